# avbench: raw videos -> WebDataset shards -> self-supervised pretraining -> downstream evaluation.
# A table of contents: the rules live in workflow/rules/, the logic in the `avbench` package.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/all.smk"
include: "workflow/rules/synthesize.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/probe.smk"
include: "workflow/rules/shard.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/external.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/aot_cues.smk"
include: "workflow/rules/avsync.smk"
include: "workflow/rules/propagation.smk"
include: "workflow/rules/localize.smk"
include: "workflow/rules/alignment.smk"
include: "workflow/rules/multisensory.smk"
include: "workflow/rules/leaderboard.smk"
include: "workflow/rules/download.smk"
