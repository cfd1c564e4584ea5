rule shard:
    input:
        "results/manifests/{dataset}.probed.parquet",
    output:
        tars=directory("results/shards/{dataset}/group-{group}"),
        index="results/shards/{dataset}/group-{group}.index.parquet",
    params:
        config_file=EFFECTIVE_CONFIG,
        modality=lambda wc: DATASETS[wc.dataset]["modality"],
        groups=lambda wc: DATASETS[wc.dataset]["shard_groups"],
        settings=lambda wc: shard_settings(config, wc.dataset),
    log:
        "results/logs/shard/{dataset}/group-{group}.log",
    benchmark:
        "results/benchmarks/shard/{dataset}/group-{group}.tsv"
    threads: 8
    conda:
        "../../envs/avbench.yaml"
    shell:
        "avbench shard {input} -o {output.tars} --index {output.index} --modality {params.modality} "
        "--group {wildcards.group} --groups {params.groups} --dataset {wildcards.dataset} --config {params.config_file} "
        "--workers {threads} > {log} 2>&1"


rule shard_index:
    input:
        shard_group_indexes,
    output:
        index="results/shards/{dataset}/index.parquet",
        summary="results/shards/{dataset}/summary.csv",
    log:
        "results/logs/shard/{dataset}/index.log",
    conda:
        "../../envs/avbench.yaml"
    shell:
        "avbench shard-index {input} -o {output.index} --summary {output.summary} > {log} 2>&1"
