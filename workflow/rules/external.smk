# External encoders (`external`): a checkpoint per encoder avbench did not train, written from its spec
# (local weights, no download); rules evaluate and finetune read it like a pretraining run's.


rule import_encoder:
    input:
        weights=lambda wc: config["external"][wc.run].get("weights") or [],
    output:
        checkpoint="results/models/{run}/checkpoint.pt",
    log:
        "results/logs/import_encoder/{run}.log",
    wildcard_constraints:
        run=alternatives(EXTERNALS),
    conda:
        "../../envs/avbench.yaml"
    params:
        config_file=EFFECTIVE_CONFIG,
        spec=lambda wc: config["external"][wc.run],
    shell:
        "avbench import-encoder {wildcards.run:q} --config {params.config_file:q} -o {output.checkpoint:q} "
        "> {log:q} 2>&1"
