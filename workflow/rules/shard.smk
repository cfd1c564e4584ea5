rule shard:
    input:
        "results/manifests/{dataset}.probed.parquet",
    output:
        tars=directory("results/shards/{dataset}/tars"),
        index="results/shards/{dataset}/index.parquet",
    params:
        config_file=EFFECTIVE_CONFIG,
        modality=lambda wc: DATASETS[wc.dataset]["modality"],
        settings=config["shard"],
    log:
        "results/logs/shard/{dataset}.log",
    benchmark:
        "results/benchmarks/shard/{dataset}.tsv"
    threads: 8
    conda:
        "../../envs/avbench.yaml"
    shell:
        "avbench shard {input} -o {output.tars} --index {output.index} --modality {params.modality} "
        "--config {params.config_file} --workers {threads} > {log} 2>&1"
