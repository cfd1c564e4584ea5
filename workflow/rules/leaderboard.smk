rule leaderboard:
    input:
        eval_results(),
    output:
        csv="results/leaderboard.csv",
        md="results/leaderboard.md",
    log:
        "results/logs/leaderboard.log",
    conda:
        "../../envs/avbench.yaml"
    shell:
        "avbench leaderboard {input} -o {output.csv} --markdown {output.md} > {log} 2>&1"
