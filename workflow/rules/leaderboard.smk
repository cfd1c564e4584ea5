# The leaderboard (every result row), the seeds' tables derived from it, and the plots.


rule leaderboard:
    input:
        results=eval_results(),
        predictions=eval_predictions(),
    output:
        csv=report("results/leaderboard.csv", caption="../report/leaderboard.rst", category="Leaderboard"),
        units="results/leaderboard.units.parquet",
        intervals="results/leaderboard.intervals.csv",
    log:
        "results/logs/leaderboard.log",
    conda:
        "../../envs/avbench.yaml"
    params:
        bootstrap=EVAL["bootstrap"],
        seed=config["seed"],
    shell:
        "avbench leaderboard {input.results:q} --predictions {input.predictions:q} -o {output.csv:q} --markdown '' "
        "--units {output.units:q} --intervals {output.intervals:q} --bootstrap {params.bootstrap} "
        "--seed {params.seed} > {log:q} 2>&1"


rule findings:
    input:
        leaderboard="results/leaderboard.csv",
        units="results/leaderboard.units.parquet",
        intervals="results/leaderboard.intervals.csv",
        metrics=expand("results/models/{run}/metrics.csv", run=INSTANCES),
        cues=aot_cue_predictions(),
        propagation=["results/tables/propagation.csv"] if PROPAGATION["enabled"] else [],
        localization=["results/tables/localization.csv"] if LOCALIZE.get("enabled") and localize_sources() else [],
        alignment=["results/tables/alignment.csv"] if ALIGNMENT.get("enabled") else [],
    output:
        csv=report("results/findings.csv", caption="../report/findings.rst", category="Findings"),
        md=report("results/leaderboard.md", caption="../report/leaderboard_md.rst", category="Leaderboard"),
    log:
        "results/logs/findings.log",
    conda:
        "../../envs/avbench.yaml"
    params:
        config_file=EFFECTIVE_CONFIG,
        cues=lambda wc, input: ["--cue-predictions", *input.cues] if input.cues else [],
        # the opt-in stages' tables (none in the default run: an empty argument, the command unchanged)
        tables=lambda wc, input: [
            *(["--propagation", *input.propagation] if input.propagation else []),
            *(["--localization", *input.localization] if input.localization else []),
            *(["--alignment", *input.alignment] if input.alignment else []),
        ],
    shell:
        "avbench findings --units {input.units:q} --leaderboard {input.leaderboard:q} --intervals {input.intervals:q} "
        "--config {params.config_file:q} --metrics {input.metrics:q} {params.cues:q} {params.tables:q} "
        "-o {output.csv:q} "
        "--markdown {output.md:q} > {log:q} 2>&1"


rule tables:
    input:
        leaderboard="results/leaderboard.csv",
        intervals="results/leaderboard.intervals.csv",
        metrics=expand("results/models/{run}/metrics.csv", run=INSTANCES),
        # the evaluation units, for the tables with paired differences (multisensory; none in the default run)
        units=["results/leaderboard.units.parquet"] if set(TABLES) & set(PAIRED_TABLES) else [],
    output:
        **{
            name: report(f"results/tables/{name}.csv", caption=f"../report/tables/{name}.rst", category="Tables")
            for name in TABLES
        },
    log:
        "results/logs/tables.log",
    conda:
        "../../envs/avbench.yaml"
    params:
        config_file=EFFECTIVE_CONFIG,
        settings={
            "runs": {r: run_settings(config, r) for r in RUNS},
            "external": config["external"],
            "protocols": PROTOCOLS,
        },
        # " --units <path>" or nothing (the default run's command unchanged)
        units=lambda wc, input: "".join(f" --units {shlex.quote(u)}" for u in input.units),
    shell:
        "avbench tables {input.leaderboard:q} --intervals {input.intervals:q} --config {params.config_file:q} "
        "--metrics {input.metrics:q}{params.units} -o results/tables > {log:q} 2>&1"


rule plots:
    input:
        leaderboard="results/leaderboard.csv",
        intervals="results/leaderboard.intervals.csv",
        metrics=expand("results/models/{run}/metrics.csv", run=INSTANCES),
        k_sweep=["results/tables/k_sweep.csv"] if "k_sweep" in TABLES else [],
        multisensory=["results/tables/multisensory.csv"] if "multisensory" in TABLES else [],
    output:
        **{
            name: report(path, caption=f"../report/{name}.rst", category="Plots")
            for name, path in plot_outputs().items()
        },
    log:
        "results/logs/plots.log",
    conda:
        "../../envs/avbench.yaml"
    params:
        k_sweep=lambda wc, input, output: (
            ["--k-sweep-table", input.k_sweep[0], "--k-sweep", output.k_sweep] if "k_sweep" in TABLES else []
        ),
        # " --multisensory-table <csv> --multisensory <png>" or nothing (the default run's command unchanged)
        multisensory=lambda wc, input, output: "".join(
            f" --multisensory-table {shlex.quote(t)} --multisensory {shlex.quote(output.multisensory)}"
            for t in input.multisensory
        ),
    shell:
        "avbench plots {input.leaderboard:q} --intervals {input.intervals:q} --metrics {input.metrics:q} "
        "--bars {output.bars:q} --curves {output.curves:q} {params.k_sweep:q}{params.multisensory} > {log:q} 2>&1"
