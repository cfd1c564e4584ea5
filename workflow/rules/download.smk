# Optional: mirror downloads (config `downloads`), run with `snakemake downloads`. Not part of `all`:
# the pipeline itself never downloads anything.


rule download:
    output:
        "results/downloads/{name}.csv",
    log:
        "results/logs/download/{name}.log",
    conda:
        "../../envs/avbench.yaml"
    params:
        urls=lambda wc: config["downloads"][wc.name]["urls"],
        extract_to=lambda wc: config["downloads"][wc.name]["extract_to"],
        workers=lambda wc: config["downloads"][wc.name].get("workers", 4),
        archives=lambda wc: f"results/downloads/{wc.name}",
    shell:
        "avbench download {params.urls:q} -o {params.archives:q} --extract-to {params.extract_to:q} "
        "--workers {params.workers:q} --report {output:q} > {log:q} 2>&1"


rule downloads:
    input:
        expand("results/downloads/{name}.csv", name=list(config["downloads"])),
