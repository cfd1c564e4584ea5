# Mask propagation, the DAVIS protocol (issue 14; README "Correspondence: mask propagation"): the first frame's
# object masks carried through each sequence by a run's frozen video features (or a baseline), J and F with
# intervals over sequences, and the runs' table with the paired difference to propagation.reference. Not part
# of `all` unless propagation.enabled: `snakemake propagation_all`.


rule propagation_set:
    output:
        directory("results/data/davis_synth"),
    log:
        "results/logs/propagation_set.log",
    benchmark:
        "results/benchmarks/propagation_set.tsv"
    conda:
        "../../envs/avbench.yaml"
    params:
        config_file=EFFECTIVE_CONFIG,
        settings=PROPAGATION["set"],
    shell:
        "avbench propagation-set -o {output:q} --config {params.config_file:q} > {log:q} 2>&1"


rule propagation:
    input:
        unpack(propagation_inputs),
    output:
        rows="results/propagation/{prun}/{pset}.csv",
        objects="results/propagation/{prun}/{pset}.objects.csv",
        skipped="results/propagation/{prun}/{pset}.skipped.csv",
        picture=report(
            "results/propagation/{prun}/{pset}.png",
            caption="../report/propagation.rst",
            category="Propagation",
        ),
    log:
        "results/logs/propagation/{prun}/{pset}.log",
    benchmark:
        "results/benchmarks/propagation/{prun}/{pset}.tsv"
    wildcard_constraints:
        prun=alternatives(propagation_sources()),
        pset=alternatives(propagation_sets()),
    conda:
        "../../envs/avbench.yaml"
    threads: 2
    params:
        config_file=EFFECTIVE_CONFIG,
        source=lambda wc, input: input.checkpoint if "checkpoint" in input.keys() else wc.prun,
        davis=lambda wc, input: input.davis if "davis" in input.keys() else PROPAGATION["davis"],
        settings={k: v for k, v in PROPAGATION.items() if k not in ("enabled", "runs", "baselines", "set")},
    shell:
        "avbench propagation {params.source:q} --davis {params.davis:q} --dataset {wildcards.pset:q} "
        "--run {wildcards.prun:q} --config {params.config_file:q} --threads {threads} -o {output.rows:q} "
        "--objects {output.objects:q} --skipped {output.skipped:q} --picture {output.picture:q} > {log:q} 2>&1"


rule propagation_table:
    input:
        objects=[propagation_files(s, d)["objects"] for s in propagation_sources() for d in propagation_sets()],
    output:
        report("results/tables/propagation.csv", caption="../report/propagation_table.rst", category="Tables"),
    log:
        "results/logs/propagation_table.log",
    conda:
        "../../envs/avbench.yaml"
    params:
        reference=PROPAGATION["reference"],
    shell:
        "avbench propagation-table {input.objects:q} --reference {params.reference:q} -o {output:q} > {log:q} 2>&1"


rule propagation_all:
    input:
        propagation_outputs(),
