"""Progress reporting for the pipeline: a rich display for the CLI, silence for tests."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager, nullcontext

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar


class Progress:
    """Silent progress; the base of RichProgress. Methods are the pipeline's only hooks."""

    def stage(self, message: str) -> None:
        """A pipeline stage starts."""

    def note(self, message: str) -> None:
        """Something the user should know (a repair, a skipped baseline)."""

    def tasks(self, total: int, epochs: int | None):
        """A context giving (on_done(task, from_disk), on_epoch_for(task)) callbacks.

        `epochs` set: one bar per model fit (few fits); None: one bar over all fits.
        """
        return nullcontext((lambda *_: None, lambda task: None))


class RichProgress(Progress):
    """Stage lines and one progress bar per model training, on stderr. `checkpoint` is called
    at each stage, note, finished fit and epoch: a safe point where the CLI raises a stop that
    a callback swallowed."""

    def __init__(self, checkpoint: Callable[[], None] | None = None) -> None:
        self.console = Console(stderr=True)
        self.checkpoint = checkpoint or (lambda: None)

    def stage(self, message: str) -> None:
        self.checkpoint()
        self.console.print(f"[bold cyan]>[/] {message}")

    def note(self, message: str) -> None:
        """One line however long (a file path in it is never wrapped or read as markup)."""
        self.checkpoint()
        self.console.print(f"[yellow]  note:[/] {escape(message)}", soft_wrap=True)

    def tasks(self, total: int, epochs: int | None):
        """One bar per model when there are few fits; one bar over all fits otherwise."""

        @contextmanager
        def ctx():
            if epochs is not None:
                bar_holder = {}

                def on_epoch_for(task):
                    self.checkpoint()
                    if "cm" in bar_holder:
                        bar_holder["cm"].__exit__(None, None, None)
                    cm = self._epoch_bar(f"{task.preset} (seed {task.seed})", epochs)
                    bar_holder["cm"] = cm
                    return cm.__enter__()

                try:
                    yield (lambda *_: self.checkpoint(), on_epoch_for)
                finally:
                    if "cm" in bar_holder:
                        bar_holder["cm"].__exit__(None, None, None)
                return
            with Bar(
                TextColumn("  training"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[last]}"),
                TimeElapsedColumn(),
                console=self.console,
            ) as bar:
                job = bar.add_task("fits", total=total, last="")

                def on_done(task, from_disk):
                    self.checkpoint()
                    where = " (saved)" if from_disk else ""
                    bar.update(
                        job,
                        advance=1,
                        last=f"{task.preset} seed {task.seed} fold {task.fold}{where}",
                    )

                yield (on_done, lambda task: None)

        return ctx()

    def _epoch_bar(
        self, name: str, epochs: int
    ) -> AbstractContextManager[Callable[[int, float, float], None]]:
        """A bar over one fit's epochs; the context gives on_epoch(epoch, train, val)."""

        @contextmanager
        def ctx():
            with Bar(
                TextColumn(f"  training {name}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[losses]}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            ) as bar:
                task = bar.add_task(name, total=epochs, losses="")

                def on_epoch(epoch: int, train_loss: float, val_loss: float) -> None:
                    self.checkpoint()
                    bar.update(
                        task,
                        completed=epoch + 1,
                        losses=f"train {train_loss:.4f} val {val_loss:.4f}",
                    )

                yield on_epoch
                bar.update(task, total=bar.tasks[0].completed)

        return ctx()
