rule all:
    input:
        "results/leaderboard.csv",
        "results/leaderboard.md",
