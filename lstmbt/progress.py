"""Progress reporting for the pipeline: a rich display for the CLI, silence for tests."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager


class Progress:
    """Silent progress; the base of RichProgress. Methods are the pipeline's only hooks."""

    def stage(self, message: str) -> None:
        """A pipeline stage starts."""

    def note(self, message: str) -> None:
        """Something the user should know (a repair, a skipped baseline)."""

    def training(self, name: str, epochs: int) -> AbstractContextManager[Callable[[int, float, float], None]]:
        """A context giving an on_epoch(epoch, train_loss, val_loss) callback."""
        from contextlib import nullcontext

        return nullcontext(lambda *_: None)


class RichProgress(Progress):
    """Stage lines and one progress bar per model training, on stderr."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)

    def stage(self, message: str) -> None:
        self.console.print(f"[bold cyan]>[/] {message}")

    def note(self, message: str) -> None:
        self.console.print(f"[yellow]  note:[/] {message}")

    def training(self, name: str, epochs: int):
        from contextlib import contextmanager

        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

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
                    bar.update(task, completed=epoch + 1,
                               losses=f"train {train_loss:.4f} val {val_loss:.4f}")

                yield on_epoch
                bar.update(task, total=bar.tasks[0].completed)

        return ctx()
