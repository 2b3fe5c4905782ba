//! Elementwise operations with broadcasting against ndarray on the whole
//! arrays. Elementwise results are bit-for-bit those of ndarray (NaN equals
//! NaN), so comparisons are exact.

use proptest::prelude::*;
use rask_array::ndarray::{ArrayD, IxDyn, Zip};
use rask_array::{Array, Chunks, where_};
use rask_local::Scheduler;

use crate::support::{chunks_for, data, shape, shape_and_chunks};

/// Asserts equal shapes and equal elements, NaN equal to NaN.
fn assert_same(got: &ArrayD<f64>, want: &ArrayD<f64>) {
    assert_eq!(got.shape(), want.shape(), "shapes differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g == w || (g.is_nan() && w.is_nan()),
            "element {i}: got {g}, want {w}"
        );
    }
}

/// Two shapes that broadcast together: both derived from one shape by
/// dropping leading axes and setting axes to 1.
fn broadcastable() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    shape(3, 4)
        .prop_flat_map(|s| {
            let n = s.len();
            (
                Just(s),
                (0..=n, proptest::collection::vec(any::<bool>(), n)),
                (0..=n, proptest::collection::vec(any::<bool>(), n)),
            )
        })
        .prop_map(|(s, (drop_a, ones_a), (drop_b, ones_b))| {
            let derive = |drop: usize, ones: &[bool]| -> Vec<usize> {
                (drop..s.len())
                    .map(|i| if ones[i] { 1 } else { s[i] })
                    .collect()
            };
            (derive(drop_a, &ones_a), derive(drop_b, &ones_b))
        })
}

/// Two broadcastable operands with independent random chunkings and data.
struct Pair {
    a: ArrayD<f64>,
    b: ArrayD<f64>,
    ca: Chunks,
    cb: Chunks,
}

impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a {:?} chunks {:?}, b {:?} chunks {:?}",
            self.a.shape(),
            self.ca.as_slices(),
            self.b.shape(),
            self.cb.as_slices()
        )
    }
}

fn pair() -> impl Strategy<Value = Pair> {
    (broadcastable(), any::<u64>()).prop_flat_map(|((sa, sb), seed)| {
        let (a, b) = (data(&sa, seed), data(&sb, seed ^ 0x5555));
        (chunks_for(sa), chunks_for(sb)).prop_map(move |(ca, cb)| Pair {
            a: a.clone(),
            b: b.clone(),
            ca,
            cb,
        })
    })
}

fn sync() -> Scheduler {
    Scheduler::sync()
}

/// `f` over two arrays co-broadcast, as a reference for integer types where
/// ndarray's operators would panic on overflow.
fn zip_ref<A: Copy, B: Copy, C>(a: &ArrayD<A>, b: &ArrayD<B>, f: impl Fn(A, B) -> C) -> ArrayD<C> {
    let ndim = a.ndim().max(b.ndim());
    let mut shape = vec![1; ndim];
    for s in [a.shape(), b.shape()] {
        for (i, &d) in s.iter().enumerate() {
            let o = &mut shape[ndim - s.len() + i];
            if d != 1 {
                *o = d;
            }
        }
    }
    let av = a.broadcast(IxDyn(&shape)).unwrap();
    let bv = b.broadcast(IxDyn(&shape)).unwrap();
    Zip::from(&av).and(&bv).map_collect(|&x, &y| f(x, y))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn arithmetic_broadcasts_like_ndarray(p in pair()) {
        let x = Array::from_ndarray(p.a.clone(), p.ca.clone()).unwrap();
        let y = Array::from_ndarray(p.b.clone(), p.cb.clone()).unwrap();
        assert_same(&(&x + &y).compute_with(&sync()).unwrap(), &(&p.a + &p.b));
        assert_same(&(&x - &y).compute_with(&sync()).unwrap(), &(&p.a - &p.b));
        assert_same(&(&x * &y).compute_with(&sync()).unwrap(), &(&p.a * &p.b));
        assert_same(&(&x / &y).compute_with(&sync()).unwrap(), &(&p.a / &p.b));
        // NumPy's `%`: the remainder takes the divisor's sign.
        let want = zip_ref(&p.a, &p.b, |a: f64, b: f64| {
            let r = a % b;
            if r != 0.0 && ((r < 0.0) != (b < 0.0)) { r + b } else { r }
        });
        assert_same(&(&x % &y).compute_with(&sync()).unwrap(), &want);
        // Owned operands too.
        assert_same(&(x.clone() + y.clone()).compute_with(&sync()).unwrap(), &(&p.a + &p.b));
    }

    #[test]
    fn integer_arithmetic_wraps_like_numpy(p in pair()) {
        // int8 overflows on most products: NumPy wraps around.
        let a = p.a.mapv(|v| (v * 12.0) as i8);
        let b = p.b.mapv(|v| (v * 12.0) as i8);
        let x = Array::from_ndarray(a.clone(), p.ca.clone()).unwrap();
        let y = Array::from_ndarray(b.clone(), p.cb.clone()).unwrap();
        prop_assert_eq!((&x + &y).compute_with(&sync()).unwrap(), zip_ref(&a, &b, i8::wrapping_add));
        prop_assert_eq!((&x - &y).compute_with(&sync()).unwrap(), zip_ref(&a, &b, i8::wrapping_sub));
        prop_assert_eq!((&x * &y).compute_with(&sync()).unwrap(), zip_ref(&a, &b, i8::wrapping_mul));
        // Division by zero gives 0, as NumPy's integer division does.
        // Floor division and a remainder with the divisor's sign, as NumPy.
        let floor_div = |p: i8, q: i8| -> i32 {
            let (a, b) = (i32::from(p), i32::from(q));
            let d = a / b;
            if a % b != 0 && ((a < 0) != (b < 0)) { d - 1 } else { d }
        };
        let div = |p: i8, q: i8| if q == 0 { 0 } else { floor_div(p, q) as i8 };
        let rem = |p: i8, q: i8| {
            if q == 0 { 0 } else { (i32::from(p) - i32::from(q) * floor_div(p, q)) as i8 }
        };
        prop_assert_eq!(x.floor_divide(&y).compute_with(&sync()).unwrap(), zip_ref(&a, &b, div));
        // `/` is true division, in f64 (NumPy's `true_divide`).
        let quotient = (&x / &y).compute_with(&sync()).unwrap();
        let want = zip_ref(&a, &b, |p: i8, q: i8| f64::from(p) / f64::from(q));
        prop_assert!(quotient.iter().zip(&want).all(|(g, w)| g == w || (g.is_nan() && w.is_nan())));
        prop_assert_eq!((&x % &y).compute_with(&sync()).unwrap(), zip_ref(&a, &b, rem));
    }

    #[test]
    fn scalar_operands_on_either_side((s, c) in shape_and_chunks(3, 5), seed in any::<u64>()) {
        let a = data(&s, seed);
        let x = Array::from_ndarray(a.clone(), c).unwrap();
        let run = |y: Array<f64>| y.compute_with(&sync()).unwrap();
        assert_same(&run(&x + 1.5), &a.mapv(|v| v + 1.5));
        assert_same(&run(&x - 1.5), &a.mapv(|v| v - 1.5));
        assert_same(&run(&x * 3.0), &a.mapv(|v| v * 3.0));
        assert_same(&run(&x / 4.0), &a.mapv(|v| v / 4.0));
        assert_same(&run(2.0 * &x), &a.mapv(|v| 2.0 * v));
        assert_same(&run(1.0 - &x), &a.mapv(|v| 1.0 - v));
        assert_same(&run(1.0 / &x), &a.mapv(|v| 1.0 / v));
        assert_same(&run(5.0 + &x), &a.mapv(|v| 5.0 + v));
        assert_same(&run(-&x), &a.mapv(|v| -v));
    }

    #[test]
    fn unary_math_matches((s, c) in shape_and_chunks(3, 5), seed in any::<u64>()) {
        let a = data(&s, seed);
        let x = Array::from_ndarray(a.clone(), c).unwrap();
        let run = |y: Array<f64>| y.compute_with(&sync()).unwrap();
        assert_same(&run(x.abs().sqrt()), &a.mapv(|v| v.abs().sqrt()));
        assert_same(&run(x.sqrt()), &a.mapv(f64::sqrt)); // NaN for negatives
        assert_same(&run(x.exp()), &a.mapv(f64::exp));
        assert_same(&run(x.ln()), &a.mapv(f64::ln));
        assert_same(&run(x.log10()), &a.mapv(f64::log10));
        assert_same(&run(x.log2()), &a.mapv(f64::log2));
        assert_same(&run(x.sin()), &a.mapv(f64::sin));
        assert_same(&run(x.cos()), &a.mapv(f64::cos));
        assert_same(&run(x.tan()), &a.mapv(f64::tan));
        assert_same(&run(x.tanh()), &a.mapv(f64::tanh));
        assert_same(&run(x.floor()), &a.mapv(f64::floor));
        assert_same(&run(x.ceil()), &a.mapv(f64::ceil));
        // NumPy rounds halves to even: use values with many halves.
        let halves = a.mapv(|v| (v * 2.0).round() / 2.0);
        let h = Array::from_ndarray(halves.clone(), x.chunks().clone()).unwrap();
        assert_same(&run(h.round()), &halves.mapv(f64::round_ties_even));
        assert_same(&run(x.round()), &a.mapv(f64::round_ties_even));
        assert_same(&run(x.trunc()), &a.mapv(f64::trunc));
        assert_same(&run(x.square()), &a.mapv(|v| v * v));
        assert_same(&run(x.expm1()), &a.mapv(f64::exp_m1));
        assert_same(&run(x.log1p()), &a.mapv(f64::ln_1p));
        assert_same(&run(x.arcsin()), &a.mapv(f64::asin));
        assert_same(&run(x.arccos()), &a.mapv(f64::acos));
        assert_same(&run(x.arctan()), &a.mapv(f64::atan));
        assert_same(&run(x.sinh()), &a.mapv(f64::sinh));
        assert_same(&run(x.cosh()), &a.mapv(f64::cosh));
        let sign = |v: f64| if v > 0.0 { 1.0 } else if v < 0.0 { -1.0 } else { v };
        assert_same(&run(x.sign()), &a.mapv(sign));
        assert_same(&run(h.sign()), &halves.mapv(sign));
        assert_same(&run(x.arctan2(&h)), &Zip::from(&a).and(&halves).map_collect(|&p, &q| p.atan2(q)));
        assert_same(&run(x.hypot(&h)), &Zip::from(&a).and(&halves).map_collect(|&p, &q| p.hypot(q)));
        let inf = a.mapv(|v| if v > 1.0 { f64::INFINITY } else if v < -1.0 { f64::NAN } else { v });
        let i = Array::from_ndarray(inf.clone(), x.chunks().clone()).unwrap();
        let runb = |y: Array<bool>| y.compute_with(&sync()).unwrap();
        prop_assert_eq!(runb(i.isinf()), inf.mapv(f64::is_infinite));
        prop_assert_eq!(runb(i.isfinite()), inf.mapv(f64::is_finite));
        prop_assert_eq!(runb(i.isnan()), inf.mapv(f64::is_nan));
        assert_same(&run(x.powi(3)), &a.mapv(|v| v.powi(3)));
        assert_same(&run(x.powf(0.5)), &a.mapv(|v| v.powf(0.5)));
        assert_same(&run(x.map(|v| v * v + 1.0)), &a.mapv(|v| v * v + 1.0));
    }

    #[test]
    fn comparisons_give_bool_arrays(p in pair()) {
        // Round so that equal values occur.
        let a = p.a.mapv(|v| (v / 4.0).round());
        let b = p.b.mapv(|v| (v / 4.0).round());
        let x = Array::from_ndarray(a.clone(), p.ca.clone()).unwrap();
        let y = Array::from_ndarray(b.clone(), p.cb.clone()).unwrap();
        let run = |z: Array<bool>| z.compute_with(&sync()).unwrap();
        prop_assert_eq!(run(x.lt(&y)), zip_ref(&a, &b, |p, q| p < q));
        prop_assert_eq!(run(x.le(&y)), zip_ref(&a, &b, |p, q| p <= q));
        prop_assert_eq!(run(x.gt(&y)), zip_ref(&a, &b, |p, q| p > q));
        prop_assert_eq!(run(x.ge(&y)), zip_ref(&a, &b, |p, q| p >= q));
        prop_assert_eq!(run(x.eq_elem(&y)), zip_ref(&a, &b, |p, q| p == q));
        prop_assert_eq!(run(x.ne_elem(&y)), zip_ref(&a, &b, |p, q| p != q));
        prop_assert_eq!(run(x.gt(0.0)), a.mapv(|v| v > 0.0));
        let both = x.gt(0.0).and(&y.lt(1.0));
        prop_assert_eq!(run(both), zip_ref(&a, &b, |p, q| p > 0.0 && q < 1.0));
        let either = x.gt(0.0).or(&y.lt(1.0));
        prop_assert_eq!(run(!&either), zip_ref(&a, &b, |p, q| !(p > 0.0 || q < 1.0)));
    }

    #[test]
    fn where_maximum_clip_astype(p in pair()) {
        let x = Array::from_ndarray(p.a.clone(), p.ca.clone()).unwrap();
        let y = Array::from_ndarray(p.b.clone(), p.cb.clone()).unwrap();
        let run = |z: Array<f64>| z.compute_with(&sync()).unwrap();
        let picked = where_(&x.gt(&y), &x, &y);
        assert_same(&run(picked), &zip_ref(&p.a, &p.b, |a, b| if a > b { a } else { b }));
        assert_same(&run(x.maximum(&y)), &zip_ref(&p.a, &p.b, f64::max));
        assert_same(&run(x.minimum(&y)), &zip_ref(&p.a, &p.b, f64::min));
        assert_same(&run(x.clip(-2.5, 3.0)), &p.a.mapv(|v| v.clamp(-2.5, 3.0)));
        let ints = x.astype::<i32>().compute_with(&sync()).unwrap();
        prop_assert_eq!(ints, p.a.mapv(|v| v as i32));
        let back = x.astype::<i32>().astype::<f64>();
        assert_same(&run(back), &p.a.mapv(|v| v as i32 as f64));
        let flags = x.gt(0.0).astype::<u8>().compute_with(&sync()).unwrap();
        prop_assert_eq!(flags, p.a.mapv(|v| u8::from(v > 0.0)));
    }

    #[test]
    fn chained_operations_broadcast_and_fuse(p in pair(), seed in any::<u64>()) {
        let x = Array::from_ndarray(p.a.clone(), p.ca.clone()).unwrap();
        let y = Array::from_ndarray(p.b.clone(), p.cb.clone()).unwrap();
        // A third operand shaped like the last axis of x (or a scalar).
        let zs: Vec<usize> = p.a.shape().last().map(|&n| vec![n]).unwrap_or_default();
        let c = data(&zs, seed);
        let z = Array::from_ndarray(c.clone(), vec![2; zs.len()]).unwrap();
        let got = ((&x + &y) * 2.0 - &z).compute_with(&sync()).unwrap();
        let want = &((&p.a + &p.b) * 2.0) - &c;
        assert_same(&got, &want);
        let got = ((&x * &x).sqrt() + 1.0).exp().ln() - 1.0;
        let want = p.a.mapv(|v| ((v * v).sqrt() + 1.0).exp().ln() - 1.0);
        assert_same(&got.compute_with(&sync()).unwrap(), &want);
    }
}

#[test]
fn threads_give_the_same_answer() {
    let a = data(&[40, 30], 1);
    let b = data(&[30], 2);
    let x = Array::from_ndarray(a.clone(), &[7, 8]).unwrap();
    let y = Array::from_ndarray(b.clone(), &[5]).unwrap();
    let got = ((&x + &y) * &x - 1.0)
        .compute_with(&Scheduler::threads(2).unwrap())
        .unwrap();
    assert_same(&got, &(&(&(&a + &b) * &a) - 1.0));
}

/// Blocks big enough to be combined tile by tile with a transposed block
/// (uneven tiles at the edges, a permuted 3-d operand) give ndarray's values.
#[test]
fn transposed_operands_combine_tile_by_tile() {
    let a = data(&[300, 300], 3);
    let x = Array::from_ndarray(a.clone(), &[200, 150]).unwrap();
    let got = (&x - &x.t()).compute_with(&sync()).unwrap();
    assert_same(&got, &(&a - &a.t()));

    let c = data(&[3, 130, 140], 4);
    let z = Array::from_ndarray(c.clone(), &[2, 130, 140]).unwrap();
    let zt = z.permute_axes(&[0, 2, 1]);
    let w = data(&[3, 140, 130], 5);
    let wa = Array::from_ndarray(w.clone(), &[3, 70, 130]).unwrap();
    let got = (&zt * &wa).compute_with(&sync()).unwrap();
    let want = &c.view().permuted_axes(IxDyn(&[0, 2, 1])) * &w;
    assert_same(&got, &want);
}

#[test]
fn incompatible_shapes_fail_at_compute_naming_both() {
    let x = Array::<f64>::ones(&[3, 4], &[2, 2]).unwrap();
    let y = Array::<f64>::ones(&[5], &[2]).unwrap();
    let z = &x + &y; // no panic here
    let err = z.compute().unwrap_err().to_string();
    assert!(err.contains("(3, 4) (5,)") && err.contains("add"), "{err}");
    let err = x.maximum(&y).compute().unwrap_err().to_string();
    assert!(err.contains("(3, 4) (5,)"), "{err}");
    let err = where_(&x.gt(0.0), &x, &y)
        .compute()
        .unwrap_err()
        .to_string();
    assert!(err.contains("(3, 4)") && err.contains("(5,)"), "{err}");
    let err = x.lt(&y).compute().unwrap_err().to_string();
    assert!(err.contains("(3, 4) (5,)"), "{err}");
}

#[test]
fn invalid_arrays_propagate_through_operations() {
    let x = Array::<f64>::ones(&[3, 4], &[2, 2]).unwrap();
    let bad = &x + &Array::<f64>::ones(&[2], &[2]).unwrap();
    let chained = ((&bad * 2.0 + &x).sqrt() - 1.0).maximum(&x).gt(0.0);
    let err = chained.compute().unwrap_err().to_string();
    assert!(err.contains("(3, 4) (2,)"), "{err}");
    let err = (&x + &bad).sum().compute_scalar().unwrap_err().to_string();
    assert!(err.contains("(3, 4) (2,)"), "{err}");
    let err = bad.astype::<i32>().compute().unwrap_err().to_string();
    assert!(err.contains("(3, 4) (2,)"), "{err}");
}

#[test]
fn maximum_and_minimum_propagate_nan_like_numpy() {
    let a = ArrayD::from_shape_vec(IxDyn(&[3]), vec![f64::NAN, 1.0, 2.0]).unwrap();
    let b = ArrayD::from_shape_vec(IxDyn(&[3]), vec![1.0, f64::NAN, 3.0]).unwrap();
    let x = Array::from_ndarray(a, &[2]).unwrap();
    let y = Array::from_ndarray(b, &[1]).unwrap();
    for z in [x.maximum(&y), x.minimum(&y)] {
        let got = z.compute().unwrap();
        assert!(got[0].is_nan() && got[1].is_nan(), "{got}");
    }
    assert_eq!(x.maximum(&y).compute().unwrap()[2], 3.0);
    assert_eq!(x.minimum(&y).compute().unwrap()[2], 2.0);
    assert!(x.clip(0.0, 1.5).compute().unwrap()[0].is_nan());
}

#[test]
fn clip_with_min_above_max_gives_max_like_numpy() {
    let x = Array::<i32>::arange(0, 6, 1, &[4]).unwrap();
    let got = x.clip(3, 1).compute().unwrap();
    assert_eq!(got, ArrayD::from_elem(IxDyn(&[6]), 1));
}

#[test]
fn integer_negation_and_abs_wrap_like_numpy() {
    let x = Array::from_ndarray(
        ArrayD::from_shape_vec(IxDyn(&[3]), vec![i8::MIN, -1, 5]).unwrap(),
        &[2],
    )
    .unwrap();
    assert_eq!(
        (-&x).compute().unwrap().into_raw_vec_and_offset().0,
        vec![i8::MIN, 1, -5]
    );
    assert_eq!(
        x.abs().compute().unwrap().into_raw_vec_and_offset().0,
        vec![i8::MIN, 1, 5]
    );
    let y = Array::from_ndarray(
        ArrayD::from_shape_vec(IxDyn(&[2]), vec![250u8, 3]).unwrap(),
        &[1],
    )
    .unwrap();
    let got = (10u8 + &y).compute().unwrap().into_raw_vec_and_offset().0;
    assert_eq!(got, vec![4, 13]);
    let got = (1u8 - &y).compute().unwrap().into_raw_vec_and_offset().0;
    assert_eq!(got, vec![7, 254]);
    let got = (&y - 3u8)
        .floor_divide(7u8)
        .compute()
        .unwrap()
        .into_raw_vec_and_offset()
        .0;
    assert_eq!(got, vec![35, 0], "247 // 7 and 0 // 7");
    let got = (7u8 / &(&y - 3u8))
        .compute()
        .unwrap()
        .into_raw_vec_and_offset()
        .0;
    assert_eq!(got, vec![7.0 / 247.0, f64::INFINITY], "7 / 247 and 7 / 0");
}

#[test]
fn zero_size_and_scalar_operands() {
    let e = Array::<f64>::zeros(&[0, 3], &[2, 2]).unwrap();
    let r = Array::<f64>::ones(&[1, 3], &[1, 2]).unwrap();
    assert_eq!((&e + &r).compute().unwrap().shape(), &[0, 3]);
    let s = Array::<f64>::full(&[], &[] as &[usize], 2.0).unwrap();
    let x = Array::<f64>::ones(&[2, 3], &[1, 2]).unwrap();
    let got = (&s * &x).compute().unwrap();
    assert_eq!(got, ArrayD::from_elem(IxDyn(&[2, 3]), 2.0));
    assert_eq!((&s + &s).compute_scalar().unwrap(), 4.0);
}

#[test]
fn clip_and_remainder_follow_numpy_at_the_edges() {
    let x = Array::from_ndarray(
        ArrayD::from_shape_vec(IxDyn(&[6]), vec![-4.0, 4.0, -3.0, 1.5, f64::NAN, 7.0]).unwrap(),
        &[4],
    )
    .unwrap();
    // np.clip is minimum(maximum(x, lo), hi): a NaN bound gives NaN, and
    // hi wins when lo > hi.
    let c = x.clip(f64::NAN, 2.0).compute().unwrap();
    assert!(c.iter().all(|v| v.is_nan()), "{c}");
    let c = x.clip(5.0, 2.0).compute().unwrap();
    assert!(c.iter().take(4).all(|&v| v == 2.0), "{c}");
    assert!(c[4].is_nan() && c[5] == 2.0, "{c}");
    // np.remainder: a zero remainder takes the divisor's sign.
    let r = (&x % 2.0).compute().unwrap();
    assert!(r[0] == 0.0 && r[0].is_sign_positive(), "{r}");
    let r = (&x % -2.0).compute().unwrap();
    assert!(r[1] == 0.0 && r[1].is_sign_negative(), "{r}");
    assert_eq!((r[2], r[3]), (-1.0, -0.5));
}
