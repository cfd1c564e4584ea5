rule pretrain:
    wildcard_constraints:
        run=alternatives(INSTANCES),
    input:
        unpack(pretrain_inputs),
    output:
        checkpoint="results/models/{run}/checkpoint.pt",
        metrics="results/models/{run}/metrics.csv",
    params:
        config_file=EFFECTIVE_CONFIG,
        launcher=pretrain_launcher(),
        shards=lambda wc, input: os.path.dirname(input.index),
        settings=lambda wc: {"run": run_settings(config, base_run(wc.run)), "seed": parse_instance(config, wc.run)[1]},
    log:
        "results/logs/pretrain/{run}.log",
    benchmark:
        "results/benchmarks/pretrain/{run}.tsv"
    threads: 8
    resources:
        mem_mb=8000,
        gpus=config["pretrain"]["nproc_per_node"],
    conda:
        "../../envs/avbench.yaml"
    shell:
        "{params.launcher} pretrain {wildcards.run:q} --shards {params.shards:q} --index {input.index:q} "
        "--out results/models/{wildcards.run:q} --config {params.config_file:q} --threads {threads} > {log:q} 2>&1"
