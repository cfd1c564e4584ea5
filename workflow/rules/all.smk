rule all:
    input:
        "results/leaderboard.csv",
        "results/leaderboard.md",
        "results/findings.csv",
        expand("results/tables/{name}.csv", name=TABLES),
        list(plot_outputs().values()),
        avsync_outputs() if AVSYNC["enabled"] else [],
        propagation_outputs() if PROPAGATION["enabled"] else [],
        localize_outputs() if LOCALIZE.get("enabled") else [],
        alignment_outputs() if ALIGNMENT.get("enabled") else [],
