rule shard:
    input:
        "results/manifests/{dataset}.probed.parquet",
    output:
        tars=directory("results/shards/{dataset}/group-{group}"),
        index="results/shards/{dataset}/group-{group}.index.parquet",
    log:
        "results/logs/shard/{dataset}/group-{group}.log",
    benchmark:
        "results/benchmarks/shard/{dataset}/group-{group}.tsv"
    conda:
        "../../envs/avbench.yaml"
    threads: 8
    params:
        config_file=EFFECTIVE_CONFIG,
        modality=lambda wc: DATASETS[wc.dataset]["modality"],
        groups=lambda wc: DATASETS[wc.dataset]["shard_groups"],
        settings=lambda wc: shard_settings(config, wc.dataset),
    shell:
        "avbench shard {input:q} -o {output.tars:q} --index {output.index:q} --modality {params.modality:q} "
        "--group {wildcards.group:q} --groups {params.groups:q} --dataset {wildcards.dataset:q} --config {params.config_file:q} "
        "--workers {threads} > {log:q} 2>&1"


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
        "avbench shard-index {input:q} -o {output.index:q} --summary {output.summary:q} > {log:q} 2>&1"
