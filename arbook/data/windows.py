"""Windows: training batches cut from long texts and clips, and consecutive windows to evaluate.

:class:`Windows` draws windows of a fixed length at random places of one encoded text or inside
a set of clips; :func:`arbook.train.fit` takes it as training data and validates on the end of the
text (or the last clips). :func:`text_chunks` cuts a held-out text into consecutive windows. The
chapters "Recurrent networks", "Transformers and GPT" (texts) and "WaveNet" (clips of audio) train
on them.
"""

from __future__ import annotations

import torch


def text_chunks(codes: torch.Tensor, length: int) -> torch.Tensor:
    """Consecutive non-overlapping windows ``[len(codes) // length, length]`` of an encoded
    text (the remainder is dropped): how a long held-out text is evaluated."""
    if codes.dim() != 1:
        raise ValueError(f"expected an encoded text of shape [N], got {list(codes.shape)}")
    if length < 1 or len(codes) < length:
        raise ValueError(f"cannot cut a text of {len(codes)} symbols into windows of {length}")
    n = len(codes) // length
    return codes[: n * length].view(n, length)


class Windows:
    """Training batches from long sequences: windows of ``length`` symbols starting at random
    places of one encoded text ``[N]``, or inside the clips ``[N, T]`` of a set of recordings
    (a window never straddles two clips).

    :func:`arbook.train.fit` accepts it as training data; one "epoch" is ``len(windows)``
    windows, about one look at every symbol.
    """

    def __init__(self, codes: torch.Tensor, length: int) -> None:
        if codes.dim() not in (1, 2) or codes.dtype != torch.long:
            raise ValueError(
                "expected an encoded text (a LongTensor [N]) or clips (a LongTensor [N, T])"
            )
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"window length must be a positive integer, got {length!r}")
        if codes.shape[-1] < length + 1:
            what = "a text" if codes.dim() == 1 else "clips"
            raise ValueError(
                f"{what} of {codes.shape[-1]} symbols has no windows of length {length}"
            )
        self.codes = codes
        self.length = length

    def __len__(self) -> int:
        return self.codes.numel() // self.length

    def __repr__(self) -> str:
        if self.codes.dim() == 2:
            return f"Windows({len(self.codes):,} clips of {self.codes.shape[1]:,}, length {self.length})"
        return f"Windows({len(self.codes):,} symbols, length {self.length})"

    def to(self, device: torch.device | str) -> Windows:
        return Windows(self.codes.to(device), self.length)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``[batch_size, length]`` windows at uniformly random starting positions."""
        starts = torch.randint(
            self.codes.shape[-1] - self.length + 1, (batch_size,), generator=generator
        )
        offsets = starts.to(self.codes.device)[:, None] + torch.arange(
            self.length, device=self.codes.device
        )
        if self.codes.dim() == 1:
            return self.codes[offsets]
        clips = torch.randint(len(self.codes), (batch_size,), generator=generator)
        return self.codes[clips.to(self.codes.device)[:, None], offsets]

    def split(self, fraction: float = 0.1) -> tuple[Windows, torch.Tensor]:
        """``(training windows, validation data)``: the last ``fraction`` of a text becomes
        consecutive validation windows, or the last ``fraction`` of the clips (at least one)
        are validated whole; the rest stays for training."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"validation fraction must be in (0, 1), got {fraction!r}")
        if self.codes.dim() == 2:
            if len(self.codes) < 2:
                raise ValueError("need at least two clips to hold one out for validation")
            cut = len(self.codes) - max(1, round(fraction * len(self.codes)))
            return Windows(self.codes[:cut], self.length), self.codes[cut:]
        cut = len(self.codes) - round(fraction * len(self.codes))
        return (
            Windows(self.codes[:cut], self.length),
            text_chunks(self.codes[cut:], self.length),
        )
