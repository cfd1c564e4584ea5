rule pretrain:
    input:
        tars=f"results/shards/{PRETRAIN}/tars",
        index=f"results/shards/{PRETRAIN}/index.parquet",
    output:
        checkpoint="results/models/{method}/checkpoint.pt",
        metrics="results/models/{method}/metrics.csv",
    params:
        config_file=EFFECTIVE_CONFIG,
        dataset=PRETRAIN,
        settings={"pretrain": config["pretrain"], "seed": config["seed"]},
    log:
        "results/logs/pretrain/{method}.log",
    benchmark:
        "results/benchmarks/pretrain/{method}.tsv"
    threads: 8
    resources:
        mem_mb=8000,
    conda:
        "../../envs/avbench.yaml"
    shell:
        "avbench pretrain --method {wildcards.method} --shards {input.tars} --index {input.index} "
        "--dataset {params.dataset} --out results/models/{wildcards.method} --config {params.config_file} "
        "--threads {threads} > {log} 2>&1"
