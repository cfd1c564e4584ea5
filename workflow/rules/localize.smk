# Sound-source localization (issue 13; README "Sound-source localization"): the heatmaps of the localizing runs
# (avolnet) and of the centre and motion priors scored against the sounding object's box on the clips of the
# synthetic localization set (a share with a silent moving object): pointing game and top-region IoU with
# intervals over videos, and the table with the paired difference to the centre prior. In `all` when
# localize.enabled (config.yaml: on); `snakemake localize_all` runs it alone.


rule localize_set:
    output:
        "results/data/localize/summary.json",
    log:
        "results/logs/localize_set.log",
    benchmark:
        "results/benchmarks/localize_set.tsv"
    conda:
        "../../envs/avbench.yaml"
    threads: 4
    params:
        config_file=EFFECTIVE_CONFIG,
        settings={"set": LOCALIZE.get("set"), "seed": config["seed"]},
    shell:
        "avbench localize-set -o results/data/localize --config {params.config_file:q} --workers {threads} "
        "> {log:q} 2>&1"


rule localize:
    input:
        unpack(localize_inputs),
    output:
        rows="results/localization/{lsource}/{ldataset}.csv",
        clips="results/localization/{lsource}/{ldataset}.clips.csv",
        skipped="results/localization/{lsource}/{ldataset}.skipped.csv",
        picture=report(
            "results/localization/{lsource}/{ldataset}.png",
            caption="../report/localization.rst",
            category="Localization",
        ),
    log:
        "results/logs/localization/{lsource}/{ldataset}.log",
    benchmark:
        "results/benchmarks/localization/{lsource}/{ldataset}.tsv"
    wildcard_constraints:
        lsource=alternatives(localize_sources()),
        ldataset=alternatives([LOCALIZE["dataset"]] if LOCALIZE else []),
    conda:
        "../../envs/avbench.yaml"
    threads: 2
    params:
        config_file=EFFECTIVE_CONFIG,
        source=lambda wc, input: input.checkpoint if "checkpoint" in input.keys() else wc.lsource,
        shards=lambda wc, input: os.path.dirname(input.index),
        settings={k: v for k, v in LOCALIZE.items() if k not in ("enabled", "runs", "priors", "set")},
    shell:
        "avbench localize {params.source:q} --shards {params.shards:q} "
        "--truth results/data/localize/localize/ground_truth --dataset {wildcards.ldataset:q} "
        "--run {wildcards.lsource:q} --config {params.config_file:q} --threads {threads} -o {output.rows:q} "
        "--clips {output.clips:q} --skipped {output.skipped:q} --picture {output.picture:q} > {log:q} 2>&1"


rule localize_table:
    input:
        clips=[localize_files(s)["clips"] for s in localize_sources()],
    output:
        report("results/tables/localization.csv", caption="../report/localization_table.rst", category="Tables"),
    log:
        "results/logs/localization_table.log",
    conda:
        "../../envs/avbench.yaml"
    params:
        reference=LOCALIZE.get("reference", "centre"),
    shell:
        "avbench localize-table {input.clips:q} --reference {params.reference:q} -o {output:q} > {log:q} 2>&1"


rule localize_all:
    input:
        localize_outputs(),
