rule evaluate:
    input:
        checkpoint="results/models/{method}/checkpoint.pt",
        tars="results/shards/{downstream}/tars",
        index="results/shards/{downstream}/index.parquet",
    output:
        "results/eval/{method}/{downstream}.csv",
    params:
        config_file=EFFECTIVE_CONFIG,
        kind=lambda wc: DOWNSTREAM[wc.downstream],
        settings=config["evaluate"],
    log:
        "results/logs/evaluate/{method}/{downstream}.log",
    threads: 8
    conda:
        "../../envs/avbench.yaml"
    shell:
        "avbench evaluate --checkpoint {input.checkpoint} --shards {input.tars} --index {input.index} "
        "--kind {params.kind} --downstream {wildcards.downstream} --config {params.config_file} "
        "--threads {threads} -o {output} > {log} 2>&1"
