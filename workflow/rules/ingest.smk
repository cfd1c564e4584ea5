rule ingest:
    input:
        synth_input,
    output:
        manifest="results/manifests/{dataset}.parquet",
        summary="results/manifests/{dataset}.summary.csv",
    params:
        args=ingest_args,
    log:
        "results/logs/ingest/{dataset}.log",
    conda:
        "../../envs/avbench.yaml"
    shell:
        "avbench ingest {params.args} --dataset {wildcards.dataset} -o {output.manifest} "
        "--summary {output.summary} > {log} 2>&1"
