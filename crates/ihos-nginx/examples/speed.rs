fn main() {
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path).unwrap();
        let n: usize = std::env::var("N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(40);
        let (mut bp, mut br, mut bd, mut bt) = (f64::MAX, f64::MAX, f64::MAX, f64::MAX);
        for _ in 0..n {
            let src = bytes.clone();
            let t0 = std::time::Instant::now();
            let doc = ihos_nginx::Document::parse(src).unwrap();
            let t1 = std::time::Instant::now();
            let out = doc.render();
            let t2 = std::time::Instant::now();
            drop(doc);
            let t3 = std::time::Instant::now();
            assert_eq!(out.len(), bytes.len());
            bp = bp.min((t1 - t0).as_secs_f64());
            br = br.min((t2 - t1).as_secs_f64());
            bd = bd.min((t3 - t2).as_secs_f64());
            bt = bt.min((t3 - t0).as_secs_f64());
        }
        let mb = bytes.len() as f64 / 1e6;
        println!(
            "{path}: total {:.1} MB/s (parse {:.2} ms, render {:.2} ms, drop {:.2} ms)",
            mb / bt,
            bp * 1e3,
            br * 1e3,
            bd * 1e3
        );
    }
}
