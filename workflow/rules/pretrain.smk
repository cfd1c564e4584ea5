rule pretrain:
    input:
        unpack(pretrain_inputs),
    output:
        checkpoint="results/models/{run}/checkpoint.pt",
        metrics="results/models/{run}/metrics.csv",
    log:
        "results/logs/pretrain/{run}.log",
    benchmark:
        "results/benchmarks/pretrain/{run}.tsv"
    wildcard_constraints:
        run=alternatives(INSTANCES),
    conda:
        "../../envs/avbench.yaml"
    threads: 8
    resources:
        mem_mb=8000,
        gpus=config["pretrain"]["nproc_per_node"],
    params:
        config_file=EFFECTIVE_CONFIG,
        launcher=pretrain_launcher(),
        shards=lambda wc, input: os.path.dirname(input.index),
        settings=lambda wc: {"run": run_settings(config, base_run(wc.run)), "seed": parse_instance(config, wc.run)[1]},
    shell:
        "{params.launcher} pretrain {wildcards.run:q} --shards {params.shards:q} --index {input.index:q} "
        "--out results/models/{wildcards.run:q} --config {params.config_file:q} --threads {threads} > {log:q} 2>&1"
