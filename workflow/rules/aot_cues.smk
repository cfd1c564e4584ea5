# The arrow of time's paired cue test (seed 002; README "The pretext zoo"): an arrow-of-time run,
# trained once on the original videos, scored forward vs backward on its own held-out videos as they
# are (its pretraining shards), with the black bars cropped and with the camera stabilized (the
# datasets synth_pretrain_cropped / _stabilized of config.yaml: the same videos, other `shard`
# overrides). Only the held-out videos are sharded again. `results/aot_cues/{run}.csv` (+
# `.predictions.parquet`) is not part of `all`.
from avbench.evaluate.aot_cues import cue_variant_datasets, variant_args

AOT_CUE_DATASETS = cue_variant_datasets(DATASETS)  # variant name -> dataset


rule aot_cues_keys:
    input:
        checkpoint="results/models/{run}/checkpoint.pt",
        index=pretrain_index,
    output:
        "results/aot_cues/{run}/heldout_keys.txt",
    log:
        "results/logs/aot_cues/{run}.keys.log",
    conda:
        "../../envs/avbench.yaml"
    shell:
        "avbench aot-cues-keys {input.checkpoint:q} --index {input.index:q} -o {output:q} > {log:q} 2>&1"


rule aot_cues_shard:
    input:
        manifest=lambda wc: f"results/manifests/{run_dataset(wc.run)}.probed.parquet",
        heldout="results/aot_cues/{run}/heldout_keys.txt",
    output:
        tars=directory("results/aot_cues/{run}/shards/{dataset}"),
        index="results/aot_cues/{run}/shards/{dataset}.index.parquet",
    log:
        "results/logs/aot_cues/{run}.{dataset}.shard.log",
    benchmark:
        "results/benchmarks/aot_cues/{run}.{dataset}.shard.tsv"
    conda:
        "../../envs/avbench.yaml"
    threads: 8
    params:
        config_file=EFFECTIVE_CONFIG,
        modality=lambda wc: DATASETS[wc.dataset]["modality"],
        settings=lambda wc: shard_settings(config, wc.dataset),
    shell:
        "avbench shard {input.manifest:q} -o {output.tars:q} --index {output.index:q} --modality {params.modality:q} "
        "--dataset {wildcards.dataset:q} --config {params.config_file:q} --keys {input.heldout:q} --workers {threads} "
        "> {log:q} 2>&1"


rule aot_cues:
    input:
        checkpoint="results/models/{run}/checkpoint.pt",
        raw=lambda wc: shard_inputs(run_dataset(wc.run))["index"],
        raw_groups=lambda wc: shard_inputs(run_dataset(wc.run))["groups"],
        variants=expand("results/aot_cues/{{run}}/shards/{dataset}.index.parquet", dataset=AOT_CUE_DATASETS.values()),
    output:
        csv="results/aot_cues/{run}.csv",
        predictions="results/aot_cues/{run}.predictions.parquet",
    log:
        "results/logs/aot_cues/{run}.log",
    conda:
        "../../envs/avbench.yaml"
    params:
        variants=lambda wc, input: variant_args(input.raw, dict(zip(AOT_CUE_DATASETS, input.variants))),
        clips=EVAL["clips_per_video"],
    shell:
        "avbench aot-cues --checkpoint {input.checkpoint:q} {params.variants:q} --clips-per-video {params.clips:q} "
        "--run {wildcards.run:q} -o {output.csv:q} --predictions {output.predictions:q} > {log:q} 2>&1"
