# Seed 000's Multisensory table (issue 13; README "The pretext zoo", Multisensory): the fused audio-visual network
# fine-tuned with each clip's own audio (protocol finetune_av) on one official fold, beside its video-only
# fine-tune (rule finetune) and random init; the table (results/tables/multisensory.csv) is written by rule
# tables. In `all` when multisensory.enabled (config.yaml: on; workflow/configs/multisensory.yaml: longer budgets).


rule finetune_av:
    input:
        unpack(av_shards),
        checkpoint="results/models/{run}/checkpoint.pt",
        pretrain_index=pretrain_index,
    output:
        csv="results/eval/{run}/{downstream}/finetune_av/fold{fold}.csv",
        predictions="results/eval/{run}/{downstream}/finetune_av/fold{fold}.predictions.parquet",
    log:
        "results/logs/finetune/{run}/{downstream}/finetune_av/fold{fold}.log",
    benchmark:
        "results/benchmarks/finetune/{run}/{downstream}/finetune_av/fold{fold}.tsv"
    conda:
        "../../envs/avbench.yaml"
    threads: 1
    params:
        config_file=EFFECTIVE_CONFIG,
        shards=lambda wc, input: os.path.dirname(input.index),
        overlap=overlap_args,
        settings=config["evaluate"],
    shell:
        "avbench finetune --checkpoint {input.checkpoint:q} --shards {params.shards:q} --index {input.index:q} "
        "--kind video --downstream {wildcards.downstream:q} --fold {wildcards.fold:q} --protocol finetune_av "
        "{params.overlap:q} --config {params.config_file:q} --threads {threads} -o {output.csv:q} "
        "--predictions {output.predictions:q} > {log:q} 2>&1"
