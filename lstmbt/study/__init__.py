"""The study: inputs and folds, forecasts (LSTMs and baselines), backtests, evaluation,
significance tests and the verdict. Pure computation; the only files written are finished folds
(for resume) when a FoldStore is given."""
