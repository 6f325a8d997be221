"""dfn4: real-time speech denoising (DeepFilterNet4 in Rust) over numpy float32 arrays.

Errors carry the library's text: bad input, bad parameters, an unknown backend or an unreadable WAV
raise ValueError; a file that cannot be opened or written raises OSError; a failing backend raises
RuntimeError. The GIL is released while Rust works.
"""

from os import PathLike
from typing import List, Optional, TypedDict, Union

import numpy as np
import numpy.typing as npt

__version__: str
DEFAULT_BACKEND: str
"""The default backend, "native-f16"."""

class FileReport(TypedDict):
    audio_s: float
    processing_s: float
    sample_rate: int
    channels: int
    non_finite_replaced: int

def enhance(
    audio: npt.NDArray[np.float32],
    sample_rate: int,
    *,
    backend: str = "native-f16",
    atten_lim_db: Optional[float] = None,
) -> npt.NDArray[np.float32]:
    """Enhance `audio` (float32, `[samples]` or `[channels, samples]`) sampled at `sample_rate` Hz.

    Returns a new float32 array of the same shape, sample-aligned with the input. Any rate from
    1 kHz to 768 kHz works (resampled to 48 kHz and back). `atten_lim_db`: limit of the noise
    attenuation in dB (None: unlimited, 0: the input unchanged). Raises ValueError for a wrong dtype
    or number of dimensions, NaN/Inf samples, a rate outside 1 kHz to 768 kHz, more than 256
    channels, a negative or NaN limit, or an unknown backend.
    """

def enhance_file(
    in_path: Union[str, "PathLike[str]"],
    out_path: Union[str, "PathLike[str]"],
    *,
    backend: str = "native-f16",
    atten_lim_db: Optional[float] = None,
) -> FileReport:
    """Enhance the WAV file `in_path` into `out_path` (same rate, channels, length and sample format).

    Streams in one-second blocks; the output appears complete or not at all. NaN/Inf input samples are
    replaced by 0 and counted in the report. Raises ValueError for a malformed WAV or one outside
    1 kHz to 768 kHz or 256 channels, OSError for i/o.
    """

def backends() -> List[str]:
    """The backends this build can run."""

class Denoiser:
    """Streaming enhancement of one channel at `sample_rate` Hz.

    `process(chunk)` takes any number of samples, keeps state across calls and returns the enhanced
    samples that are final so far; `flush()` returns the rest, so that everything returned is exactly
    as long as the input and equals `enhance` of the whole signal. The output lags: the first calls
    return fewer samples than given. After `flush()` a fresh stream starts. `sample_rate` must be
    from 1000 to 768000 Hz (else ValueError).
    """

    def __init__(
        self,
        sample_rate: int = 48000,
        backend: str = "native-f16",
        atten_lim_db: Optional[float] = None,
    ) -> None: ...
    def process(self, chunk: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Enhance a 1-D float32 chunk of any length; returns the samples that are final."""
    def flush(self) -> npt.NDArray[np.float32]:
        """Return the remaining samples and start a fresh stream."""
    def reset(self) -> None:
        """Drop the state (what was given since the last flush is lost) and start a fresh stream."""
    @property
    def latency_samples(self) -> int:
        """The denoiser's algorithmic delay at this rate (its 48 kHz delay * sample_rate / 48000,
        rounded): how far the returned samples lag the given ones, plus up to one 10 ms hop and, at
        other rates than 48 kHz, the resamplers' delays. Not a shift: the output is aligned."""
    @property
    def sample_rate(self) -> int: ...
    @property
    def backend(self) -> str: ...
