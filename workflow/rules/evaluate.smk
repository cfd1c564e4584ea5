rule evaluate:
    input:
        unpack(lambda wc: shard_inputs(wc.downstream)),
        checkpoint="results/models/{run}/checkpoint.pt",
    output:
        "results/eval/{run}/{downstream}.csv",
    params:
        config_file=EFFECTIVE_CONFIG,
        shards=lambda wc, input: os.path.dirname(input.index),
        kind=lambda wc: DOWNSTREAM[wc.downstream],
        settings=config["evaluate"],
    log:
        "results/logs/evaluate/{run}/{downstream}.log",
    threads: 8
    conda:
        "../../envs/avbench.yaml"
    shell:
        "avbench evaluate --checkpoint {input.checkpoint} --shards {params.shards} --index {input.index} "
        "--kind {params.kind} --downstream {wildcards.downstream} --config {params.config_file} "
        "--threads {threads} -o {output} > {log} 2>&1"
