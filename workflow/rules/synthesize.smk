rule synthesize:
    output:
        "results/data/synth/summary.json",
    log:
        "results/logs/synthesize.log",
    benchmark:
        "results/benchmarks/synthesize.tsv"
    conda:
        "../../envs/avbench.yaml"
    threads: 8
    params:
        config_file=EFFECTIVE_CONFIG,
        settings={"synth": config["synth"], "seed": config["seed"]},
    shell:
        "avbench synthesize --config {params.config_file:q} -o results/data/synth --workers {threads} > {log:q} 2>&1"
