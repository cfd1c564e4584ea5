rule leaderboard:
    input:
        results=eval_results(),
        metrics=expand("results/models/{run}/metrics.csv", run=RUNS),
    output:
        csv=report("results/leaderboard.csv", caption="../report/leaderboard.rst", category="Leaderboard"),
        md="results/leaderboard.md",
        plot=report("results/plots/leaderboard.png", caption="../report/leaderboard.rst", category="Leaderboard"),
        curves=report("results/plots/pretext.png", caption="../report/pretext.rst", category="Pretraining"),
    log:
        "results/logs/leaderboard.log",
    conda:
        "../../envs/avbench.yaml"
    shell:
        "avbench leaderboard {input.results} -o {output.csv} --markdown {output.md} --plot {output.plot} "
        "--metrics {input.metrics} --curves {output.curves} > {log} 2>&1"
