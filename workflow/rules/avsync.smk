# SyncNet-style audio-visual offset estimation (seed 002; README "Audio-visual sync (avsync)"): every video
# of each dataset of avsync.datasets scored with each synchronization model of avsync.runs (its first seed):
# offset, confidence and in_sync / out_of_sync / no_sync_signal per video, and with avsync.inject the
# evaluation with known offsets. Not part of `all` unless avsync.enabled: `snakemake avsync_all`.


rule avsync:
    input:
        unpack(lambda wc: shard_inputs(wc.dataset)),
        checkpoint="results/models/{run}/checkpoint.pt",
    output:
        **avsync_files("{run}", "{dataset}"),
    log:
        "results/logs/avsync/{run}/{dataset}.log",
    benchmark:
        "results/benchmarks/avsync/{run}/{dataset}.tsv"
    wildcard_constraints:
        run=alternatives(avsync_instances()),
        dataset=alternatives(avsync_datasets(active=False)),
    conda:
        "../../envs/avbench.yaml"
    threads: 2
    params:
        config_file=EFFECTIVE_CONFIG,
        shards=lambda wc, input: os.path.dirname(input.index),
        injected=lambda wc, output: ["--injected", output.injected] if "injected" in output.keys() else [],
        world=avsync_world_args,
        settings=AVSYNC,
    shell:
        "avbench avsync --checkpoint {input.checkpoint:q} --shards {params.shards:q} --index {input.index:q} "
        "--dataset {wildcards.dataset:q} --run {wildcards.run:q} --config {params.config_file:q} --threads {threads} "
        "-o {output.parquet:q} {params.injected:q} {params.world:q} --summary {output.summary:q} > {log:q} 2>&1"


# The same job on a dataset whose world ground truth is known and avsync.active is on: the active-object rows too.
use rule avsync as avsync_world with:
    output:
        **avsync_files("{run}", "{dataset}", active=True),
    wildcard_constraints:
        run=alternatives(avsync_instances()),
        dataset=alternatives(avsync_datasets(active=True)),


rule avsync_all:
    input:
        avsync_outputs(),


# The synthetic sync set (avsync.set; config.yaml declares it as dataset synth_sync): world
# videos whose audio is out of sync by a known offset in a share of them, with the objects' boxes and a silent
# moving object, for the world-truth offset scores and the active-object score.
rule sync_set:
    output:
        "results/data/sync/summary.json",
    log:
        "results/logs/sync_set.log",
    benchmark:
        "results/benchmarks/sync_set.tsv"
    conda:
        "../../envs/avbench.yaml"
    threads: 4
    params:
        config_file=EFFECTIVE_CONFIG,
        settings={"set": AVSYNC.get("set"), "seed": config["seed"]},
    shell:
        "avbench sync-set -o results/data/sync --config {params.config_file:q} --workers {threads} > {log:q} 2>&1"
