rule probe:
    input:
        "results/manifests/{dataset}.parquet",
    output:
        "results/manifests/{dataset}.probed.parquet",
    log:
        "results/logs/probe/{dataset}.log",
    conda:
        "../../envs/avbench.yaml"
    threads: 8
    params:
        modality=lambda wc: DATASETS[wc.dataset]["modality"],
        min_duration=config["probe"]["min_duration_s"],
        timeout=config["probe"]["timeout_s"],
        mem_mb=config["probe"]["mem_mb"],
    shell:
        "avbench probe {input:q} -o {output:q} --modality {params.modality:q} --min-duration {params.min_duration:q} "
        "--timeout {params.timeout:q} --mem-mb {params.mem_mb:q} --workers {threads} > {log:q} 2>&1"
