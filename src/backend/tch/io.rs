//! Host ↔ device transfers of the packed tensors the backend exchanges with the network
//! ([`DfNet4::forward_step_packed`](super::net::DfNet4::forward_step_packed)): each is one flat float
//! tensor whose parts lie one after another (inputs: all ERB features, then all complex features;
//! outputs: all gains, all coefficients, all LSNRs). A streaming step then moves its data with one upload
//! and one download instead of five transfers, each of which waits for the device.
use tch::{Device, Kind, Tensor};

use crate::{Error, Result};

/// Up to this many values a transfer is staged through one host tensor (one device copy plus a small
/// host copy); larger ones move each part directly between the caller's slice and the device, which
/// saves a host pass over megabytes.
const STAGED_MAX_VALUES: usize = 1 << 16;

fn tch_err(e: tch::TchError) -> Error {
    Error::Backend(e.to_string())
}

fn check_numel(t: &Tensor, want: usize) -> Result<()> {
    let got = t.numel();
    if got == want {
        Ok(())
    } else {
        Err(Error::Backend(format!(
            "packed tensor has {got} values, its parts {want}"
        )))
    }
}

/// A CPU tensor over `data` that does not own it.
///
/// # Safety
/// The tensor (and any view of it) must be dropped before `data` is dropped or written, and every use
/// must be finished when its call returns (synchronous copies only).
unsafe fn borrow_host(data: *const f32, len: usize) -> Result<Tensor> {
    let len = i64::try_from(len).map_err(|_| Error::InvalidInput("buffer too large".into()))?;
    // SAFETY: `data` points at `len` floats (the caller's slice) that outlive the tensor, per the
    // caller's contract.
    unsafe { Tensor::f_from_blob(data.cast(), &[len], &[1], Kind::Float, Device::Cpu) }
        .map_err(tch_err)
}

/// Writes `parts` one after another into the flat tensor `dst` (on any device), whose size must be
/// their total.
pub fn upload_into(dst: &mut Tensor, parts: &[&[f32]]) -> Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    check_numel(dst, total)?;
    if total <= STAGED_MAX_VALUES {
        let mut host = Vec::with_capacity(total);
        for p in parts {
            host.extend_from_slice(p);
        }
        return dst.f_copy_(&Tensor::from_slice(&host)).map_err(tch_err);
    }
    let mut offset = 0i64;
    for p in parts {
        let n = p.len() as i64;
        if n > 0 {
            // SAFETY: `src` lives only for the copy below, which is synchronous (non_blocking false),
            // while `p` is borrowed.
            let src = unsafe { borrow_host(p.as_ptr(), p.len()) }?;
            dst.f_narrow(0, offset, n)
                .and_then(|mut d| d.f_copy_(&src))
                .map_err(tch_err)?;
        }
        offset += n;
    }
    Ok(())
}

/// A new flat tensor on `device` holding `parts` one after another.
pub fn upload(device: Device, parts: &[&[f32]]) -> Result<Tensor> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut t = Tensor::f_empty([total as i64], (Kind::Float, device)).map_err(tch_err)?;
    upload_into(&mut t, parts)?;
    Ok(t)
}

/// Splits the flat float tensor `src` (on any device; its size must be the parts' total) into `parts`, in
/// order. Returns once the values are on the host, so it also waits for the work that produced them.
pub fn download(src: &Tensor, parts: &mut [&mut [f32]]) -> Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    check_numel(src, total)?;
    let mut offset = 0i64;
    if total <= STAGED_MAX_VALUES {
        let host = src.f_to_device(Device::Cpu).map_err(tch_err)?;
        for p in parts.iter_mut() {
            let n = p.len();
            host.f_narrow(0, offset, n as i64)
                .and_then(|h| h.f_copy_data(p, n))
                .map_err(tch_err)?;
            offset += n as i64;
        }
        return Ok(());
    }
    for p in parts.iter_mut() {
        let n = p.len() as i64;
        if n > 0 {
            // SAFETY: `dst` lives only for the copy below, which is synchronous (a device-to-host copy
            // into pageable memory waits for the stream), while `p` is mutably borrowed.
            let mut dst = unsafe { borrow_host(p.as_mut_ptr(), p.len()) }?;
            src.f_narrow(0, offset, n)
                .and_then(|s| dst.f_copy_(&s))
                .map_err(tch_err)?;
        }
        offset += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both transfer paths (staged and direct) round-trip, keep the part order and check sizes.
    #[test]
    fn round_trip_small_and_large() {
        for n in [3usize, STAGED_MAX_VALUES + 5] {
            let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let b: Vec<f32> = (0..2 * n).map(|i| -(i as f32)).collect();
            let t = upload(Device::Cpu, &[&a, &[], &b]).unwrap();
            assert_eq!(t.numel(), 3 * n);
            assert_eq!(t.double_value(&[n as i64]), 0.0);
            assert_eq!(t.double_value(&[n as i64 + 1]), -1.0);
            let (mut x, mut y) = (vec![0.0; 2 * n], vec![0.0; n]);
            download(&t, &mut [&mut x, &mut y]).unwrap();
            assert_eq!(x[..n], a[..]);
            assert_eq!(x[n..], b[..n]);
            assert_eq!(y[..], b[n..]);
            let mut short = vec![0.0; n];
            assert!(download(&t, &mut [&mut short]).is_err());
            let mut t2 = t.zeros_like();
            assert!(upload_into(&mut t2, &[&a]).is_err());
        }
    }
}
