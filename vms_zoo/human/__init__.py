"""Toolkit for human memory experiments with VMS maps: numpy, scipy and PIL only, no Keras or other framework.

- `vms_zoo.human.streams`: design, validate, save and load repeat-recognition image streams
  (`design_streams`, `validate_streams`, `save_streams`, `load_streams`), turn web responses into
  trials (`responses_to_trials`) and read the high/low image pairs back (`stream_pairs`).
- `vms_zoo.human.annotations`: participants' boxes -> true/false VMS maps (`vms_maps`, `box_map`).
- `vms_zoo.human.tables`: the one typed CSV reader, `read_table(path, schema)`, with a declared schema per
  table (annotations, trials, responses, streams; ids stay text, responses must be 0/1) and `write_table`;
  a bad cell is an error naming the file, row and column. Also importable from `annotations`.
- `vms_zoo.human.experiment`: d' and rates, split-half consistency, the papers' test battery
  (`compare_groups`, `jzs_bayes_factor`), Table 1 / Table 2 / Fig. 1 (`analyse`), the high-vs-low memory tests
  without the foils (`memory_experiment`), VMS intensity (`vms_intensity`), the same-z image-pair analysis with
  the 2-SD outlier exclusion (`pair_analysis`), target maps vs the maps participants drew (`target_agreement`:
  Pearson, Spearman, MSE on the 0-255 scale) and reports (`write_report`). docs/evaluation.md has the rules.
  Bad input (ragged columns, sizes, counts or sigma out of range, maps outside [0, 1]) is a one-line ValueError
  naming the argument.
- `vms_zoo.human.simulate`: simulated observers with a known ground truth (`simulate_experiment`).

Effect sizes and tests (Cohen's d, t-tests, Wilcoxon, the paired comparison, the 2-SD rule, corr2) live in
`vms_zoo.stats`, shared with the pair evaluation of generators. Import the submodules directly; this package imports none of them.
"""
