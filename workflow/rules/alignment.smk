# Phase alignment (issue 14, temporal cycle-consistency's evaluation; README "Cycle consistency"): one cycle of
# the world's periodic videos aligned pairwise (videos that turn the same way) by nearest neighbours of each
# run's frozen per-frame embeddings (the runs of alignment.runs that this config pretrains, and the pixels / noise baselines, in one job), and the
# table with each run's paired difference in Kendall's tau to alignment.reference. In `all` when alignment.enabled
# (config.yaml: on); `snakemake alignment_all` runs it alone.


rule alignment:
    input:
        checkpoints=[f"results/models/{r}/checkpoint.pt" for r in alignment_runs()],
    output:
        rows="results/alignment/rows.csv",
        pairs="results/alignment/pairs.csv",
    log:
        "results/logs/alignment.log",
    benchmark:
        "results/benchmarks/alignment.tsv"
    conda:
        "../../envs/avbench.yaml"
    threads: 4
    params:
        sources=lambda wc, input: [*input.checkpoints, *ALIGNMENT.get("baselines", [])],
        size=ALIGNMENT.get("size", [40, 30]),
        n_per_class=ALIGNMENT.get("n_per_class"),
        fps=ALIGNMENT.get("fps"),
        duration=ALIGNMENT.get("duration"),
        context=ALIGNMENT.get("context"),
        embedding=ALIGNMENT.get("embedding", "encoder"),
        n_boot=ALIGNMENT.get("n_boot"),
        seed=config["seed"],
    shell:
        "avbench alignment {params.sources:q} --n-per-class {params.n_per_class} --size {params.size} "
        "--fps {params.fps} --duration {params.duration} --context {params.context} --embedding {params.embedding} "
        "--n-boot {params.n_boot} "
        "--seed {params.seed} --threads {threads} -o {output.rows:q} --pairs {output.pairs:q} > {log:q} 2>&1"


rule alignment_table:
    input:
        rows="results/alignment/rows.csv",
        pairs="results/alignment/pairs.csv",
    output:
        report("results/tables/alignment.csv", caption="../report/alignment_table.rst", category="Tables"),
    log:
        "results/logs/alignment_table.log",
    conda:
        "../../envs/avbench.yaml"
    params:
        reference=ALIGNMENT.get("reference", "scratch"),
        n_boot=ALIGNMENT.get("n_boot"),
        seed=config["seed"],
    shell:
        "avbench alignment-table {input.pairs:q} --rows {input.rows:q} --reference {params.reference:q} "
        "--n-boot {params.n_boot} --seed {params.seed} -o {output:q} > {log:q} 2>&1"


rule alignment_all:
    input:
        alignment_outputs(),
