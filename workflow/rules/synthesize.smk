rule synthesize:
    output:
        "results/data/synth/summary.json",
    params:
        config_file=EFFECTIVE_CONFIG,
        settings={"synth": config["synth"], "seed": config["seed"]},
    log:
        "results/logs/synthesize.log",
    benchmark:
        "results/benchmarks/synthesize.tsv"
    threads: 8
    conda:
        "../../envs/avbench.yaml"
    shell:
        "avbench synthesize --config {params.config_file:q} -o results/data/synth --workers {threads} > {log:q} 2>&1"
