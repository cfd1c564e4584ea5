# The leaderboard (every result row), the seeds' tables derived from it, and the plots.


rule leaderboard:
    input:
        eval_results(),
    output:
        csv=report("results/leaderboard.csv", caption="../report/leaderboard.rst", category="Leaderboard"),
        md="results/leaderboard.md",
    log:
        "results/logs/leaderboard.log",
    conda:
        "../../envs/avbench.yaml"
    shell:
        "avbench leaderboard {input:q} -o {output.csv:q} --markdown {output.md:q} > {log:q} 2>&1"


rule tables:
    input:
        leaderboard="results/leaderboard.csv",
        metrics=expand("results/models/{run}/metrics.csv", run=RUNS),
    output:
        **{
            name: report(
                f"results/tables/{name}.csv", caption=f"../report/tables/{name}.rst", category="Tables"
            )
            for name in TABLES
        },
    params:
        config_file=EFFECTIVE_CONFIG,
        settings={"runs": {r: run_settings(config, r) for r in RUNS}, "protocols": PROTOCOLS},
    log:
        "results/logs/tables.log",
    conda:
        "../../envs/avbench.yaml"
    shell:
        "avbench tables {input.leaderboard:q} --config {params.config_file:q} --metrics {input.metrics:q} "
        "-o results/tables > {log:q} 2>&1"


rule plots:
    input:
        leaderboard="results/leaderboard.csv",
        metrics=expand("results/models/{run}/metrics.csv", run=RUNS),
        k_sweep=["results/tables/k_sweep.csv"] if "k_sweep" in TABLES else [],
    output:
        **{
            name: report(path, caption=f"../report/{name}.rst", category="Plots")
            for name, path in plot_outputs().items()
        },
    params:
        k_sweep=lambda wc, input, output: (
            ["--k-sweep-table", input.k_sweep[0], "--k-sweep", output.k_sweep] if "k_sweep" in TABLES else []
        ),
    log:
        "results/logs/plots.log",
    conda:
        "../../envs/avbench.yaml"
    shell:
        "avbench plots {input.leaderboard:q} --metrics {input.metrics:q} --bars {output.bars:q} --curves {output.curves:q} "
        "{params.k_sweep:q} > {log:q} 2>&1"
