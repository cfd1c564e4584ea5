# Frozen-encoder protocols (linear probe on every fold, cross-modal retrieval) per (run, downstream set),
# and the fine-tune protocols per (run, downstream set, protocol, official fold). Both read and fill the
# feature cache (--feature-cache: frozen features per encoder, retrieval embeddings per pretext model).


rule evaluate:
    input:
        unpack(lambda wc: shard_inputs(wc.downstream)),
        checkpoint="results/models/{run}/checkpoint.pt",
        pretrain_index=pretrain_index,
    output:
        csv="results/eval/{run}/{downstream}.csv",
        predictions="results/eval/{run}/{downstream}.predictions.parquet",
    log:
        "results/logs/evaluate/{run}/{downstream}.log",
    benchmark:
        "results/benchmarks/evaluate/{run}/{downstream}.tsv"
    conda:
        "../../envs/avbench.yaml"
    threads: 1
    params:
        config_file=EFFECTIVE_CONFIG,
        shards=lambda wc, input: os.path.dirname(input.index),
        kind=lambda wc: DOWNSTREAM[wc.downstream],
        overlap=overlap_args,
        feature_cache=FEATURE_CACHE,
        settings=evaluate_settings,
    shell:
        "avbench evaluate --checkpoint {input.checkpoint:q} --shards {params.shards:q} --index {input.index:q} "
        "--kind {params.kind:q} --downstream {wildcards.downstream:q} {params.overlap:q} "
        "--config {params.config_file:q} --threads {threads} -o {output.csv:q} --predictions {output.predictions:q} "
        "--feature-cache {params.feature_cache:q} > {log:q} 2>&1"


rule finetune:
    input:
        unpack(lambda wc: shard_inputs(wc.downstream)),
        checkpoint="results/models/{run}/checkpoint.pt",
        pretrain_index=pretrain_index,
    output:
        csv="results/eval/{run}/{downstream}/{protocol}/fold{fold}.csv",
        predictions="results/eval/{run}/{downstream}/{protocol}/fold{fold}.predictions.parquet",
    log:
        "results/logs/finetune/{run}/{downstream}/{protocol}/fold{fold}.log",
    benchmark:
        "results/benchmarks/finetune/{run}/{downstream}/{protocol}/fold{fold}.tsv"
    conda:
        "../../envs/avbench.yaml"
    threads: 1
    params:
        config_file=EFFECTIVE_CONFIG,
        shards=lambda wc, input: os.path.dirname(input.index),
        kind=lambda wc: DOWNSTREAM[wc.downstream],
        overlap=overlap_args,
        feature_cache=FEATURE_CACHE,
        settings=config["evaluate"],
    shell:
        "avbench finetune --checkpoint {input.checkpoint:q} --shards {params.shards:q} --index {input.index:q} "
        "--kind {params.kind:q} --downstream {wildcards.downstream:q} --fold {wildcards.fold:q} "
        "--protocol {wildcards.protocol:q} {params.overlap:q} --config {params.config_file:q} "
        "--threads {threads} -o {output.csv:q} --predictions {output.predictions:q} "
        "--feature-cache {params.feature_cache:q} > {log:q} 2>&1"
