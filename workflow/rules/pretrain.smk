rule pretrain:
    input:
        **shard_inputs(PRETRAIN),
    output:
        checkpoint="results/models/{method}/checkpoint.pt",
        metrics="results/models/{method}/metrics.csv",
    params:
        config_file=EFFECTIVE_CONFIG,
        launcher=pretrain_launcher(),
        dataset=PRETRAIN,
        shards=lambda wc, input: os.path.dirname(input.index),
        settings={"pretrain": config["pretrain"], "seed": config["seed"]},
    log:
        "results/logs/pretrain/{method}.log",
    benchmark:
        "results/benchmarks/pretrain/{method}.tsv"
    threads: 8
    resources:
        mem_mb=8000,
        gpus=config["pretrain"]["nproc_per_node"],
    conda:
        "../../envs/avbench.yaml"
    shell:
        "{params.launcher} pretrain --method {wildcards.method} --shards {params.shards} --index {input.index} "
        "--dataset {params.dataset} --out results/models/{wildcards.method} --config {params.config_file} "
        "--threads {threads} > {log} 2>&1"
