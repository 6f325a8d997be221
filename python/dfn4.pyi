"""dfn4: real-time speech denoising (DeepFilterNet4 in Rust) over numpy float32 arrays.

Errors carry the library's text: bad input, bad parameters, an unknown backend or an unreadable WAV
raise ValueError; a file that cannot be opened or written raises OSError (its subclass for the errno,
with `errno`, `strerror` and `filename` set); a failing backend raises RuntimeError. The GIL is
released while Rust works.

Rules shared with the `dfn4` command line:
- NaN and infinite samples are replaced by 0 and a RuntimeWarning gives their count (the command line
  prints the same warning on stderr); samples beyond +-1000 are refused (ValueError).
- Arrays are `[samples]` or `[channels, samples]`; a 2-D array with more channels than samples or more
  than 256 channels is refused as ambiguous (it is most likely soundfile's `[samples, channels]`: pass
  `x.T`).
- Sample rates from 1000 to 768000 Hz.
- `enhance_file` never writes over its input and replaces an existing output only with
  `overwrite=True` (`dfn4 enhance --overwrite`).
"""

from os import PathLike
from typing import List, Optional, TypedDict, Union

import numpy as np
import numpy.typing as npt

__version__: str
DEFAULT_BACKEND: str
"""The backend used when none is named, on this machine: "native-i8" where its AVX2, AVX-VNNI or
AVX512-VNNI kernels run, else "native-f16"."""

class FileReport(TypedDict):
    audio_s: float
    processing_s: float
    sample_rate: int
    channels: int
    non_finite_replaced: int

def enhance(
    audio: Union[
        npt.NDArray[np.float32], npt.NDArray[np.float64], npt.NDArray[np.int16], npt.NDArray[np.int32]
    ],
    sample_rate: int,
    *,
    backend: Optional[str] = None,
    atten_lim_db: Optional[float] = None,
) -> npt.NDArray[np.float32]:
    """Enhance `audio` (`[samples]` or `[channels, samples]`) sampled at `sample_rate` Hz.

    `audio` may be float32, float64 (narrowed), int16 or int32 (scaled to full scale +-1, as
    soundfile and scipy return them); the result is always float32. Returns a new array of the same shape, sample-aligned with the input. Any rate from
    1 kHz to 768 kHz works (resampled to 48 kHz and back). `atten_lim_db`: limit of the noise
    attenuation in dB (None: unlimited, 0: the input unchanged). NaN/Inf samples are replaced by 0
    with a RuntimeWarning giving their count. Raises ValueError for a wrong dtype or number of
    dimensions, a shape that looks like `[samples, channels]` (more channels than samples, or more
    than 256: "pass x.T"), samples beyond +-1000, a rate outside 1 kHz to 768 kHz, a negative or NaN
    limit, or an unknown backend.
    """

def enhance_file(
    in_path: Union[str, "PathLike[str]"],
    out_path: Union[str, "PathLike[str]"],
    *,
    backend: Optional[str] = None,
    atten_lim_db: Optional[float] = None,
    overwrite: bool = False,
) -> FileReport:
    """Enhance the audio file `in_path` into the WAV file `out_path` (same rate, channels and length).

    `in_path` may be WAV, FLAC, Ogg Vorbis, MP3, AAC/M4A or ALAC (recognised by content); the output
    keeps a WAV input's sample format, a FLAC/ALAC input's bit depth, and is 16-bit for a lossy input.

    Streams in one-second blocks; the output appears complete or not at all. NaN/Inf input samples are
    replaced by 0, counted in the report and warned about (RuntimeWarning). `out_path` must not be
    `in_path` (symlinks and hard links resolved; ValueError even with `overwrite=True`); an existing
    output file raises FileExistsError unless `overwrite=True`. Raises ValueError for a malformed WAV or
    one outside 1 kHz to 768 kHz or 256 channels, OSError (FileNotFoundError, PermissionError, ... with
    `errno` and `filename`) for i/o.
    """

def backends() -> List[str]:
    """The backends this build can run (`DEFAULT_BACKEND` is the one used when none is named)."""

class Denoiser:
    """Streaming enhancement of one channel at `sample_rate` Hz, through the library's host glue (the
    LADSPA/LV2 plugin's): any chunk size, a fixed delay at every rate.

    `process(chunk)` takes any number of samples, keeps state across calls and returns the enhanced
    samples that are final; `flush()` returns the rest, so that everything returned is exactly as long
    as the input and sample-aligned with it (at 48 kHz it equals `enhance` of the whole signal; at
    other rates the streaming resamplers differ slightly from the offline ones). The output lags the
    input by exactly `latency_samples`: nothing comes back until that many samples have been given,
    then every call returns as many samples as it was given (no bursts). NaN/Inf samples are replaced
    by 0 with a RuntimeWarning. After `flush()` a fresh stream starts. `sample_rate` must be from 1000
    to 768000 Hz (else ValueError).
    """

    def __init__(
        self,
        sample_rate: int = 48000,
        backend: Optional[str] = None,
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
        """How many samples the returned output lags the given input, exactly: the denoiser's 20 ms,
        one 10 ms hop of buffering and, at other rates than 48 kHz, the resamplers (1439 at 48 kHz,
        1763 at 44.1 kHz, 639 at 16 kHz, 319 at 8 kHz: the plugin's latency at the same rate). Not a
        shift: the concatenated output is aligned with the input."""
    @property
    def sample_rate(self) -> int: ...
    @property
    def backend(self) -> str: ...
