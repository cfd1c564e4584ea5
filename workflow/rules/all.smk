rule all:
    input:
        "results/leaderboard.csv",
        "results/leaderboard.md",
        "results/plots/leaderboard.png",
        "results/plots/pretext.png",
