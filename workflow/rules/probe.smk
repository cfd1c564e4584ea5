rule probe:
    input:
        "results/manifests/{dataset}.parquet",
    output:
        "results/manifests/{dataset}.probed.parquet",
    params:
        modality=lambda wc: DATASETS[wc.dataset]["modality"],
        min_duration=config["probe"]["min_duration_s"],
        timeout=config["probe"]["timeout_s"],
        mem_mb=config["probe"]["mem_mb"],
    log:
        "results/logs/probe/{dataset}.log",
    threads: 8
    conda:
        "../../envs/avbench.yaml"
    shell:
        "avbench probe {input} -o {output} --modality {params.modality} --min-duration {params.min_duration} "
        "--timeout {params.timeout} --mem-mb {params.mem_mb} --workers {threads} > {log} 2>&1"
