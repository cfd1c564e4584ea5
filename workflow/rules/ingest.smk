rule ingest:
    input:
        synth_input,
    output:
        manifest="results/manifests/{dataset}.parquet",
        summary="results/manifests/{dataset}.summary.csv",
    log:
        "results/logs/ingest/{dataset}.log",
    conda:
        "../../envs/avbench.yaml"
    params:
        args=ingest_args,
    shell:
        "avbench ingest {params.args:q} --dataset {wildcards.dataset:q} -o {output.manifest:q} "
        "--summary {output.summary:q} > {log:q} 2>&1"
