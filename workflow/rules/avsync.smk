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
        dataset=alternatives(AVSYNC["datasets"]),
    conda:
        "../../envs/avbench.yaml"
    threads: 2
    params:
        config_file=EFFECTIVE_CONFIG,
        shards=lambda wc, input: os.path.dirname(input.index),
        injected=lambda wc, output: ["--injected", output.injected] if "injected" in output.keys() else [],
        settings=AVSYNC,
    shell:
        "avbench avsync --checkpoint {input.checkpoint:q} --shards {params.shards:q} --index {input.index:q} "
        "--dataset {wildcards.dataset:q} --run {wildcards.run:q} --config {params.config_file:q} --threads {threads} "
        "-o {output.parquet:q} {params.injected:q} --summary {output.summary:q} > {log:q} 2>&1"


rule avsync_all:
    input:
        avsync_outputs(),
