//! Search latency at catalog scale: generates synthetic multilingual
//! exhibit records (zh + en, from word lists, seeded: every run the same),
//! writes their search index, opens it, and times a fixed set of queries
//! (then prints each query's top hits, to eyeball the ranking).
//!
//! ```text
//! search-bench [--records N] [--runs R] [--keep DIR]
//! ```
//!
//! Defaults: 100,000 records, 200 runs of each query. `--keep DIR` writes
//! the index into DIR (which must be empty) and leaves it there.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use catalog_search::{SearchIndex, write_index};
use recognizer::ExhibitRecord;
use recognizer::bundle::LangText;
use tantivy::tokenizer::{TokenStream, Tokenizer};

/// Query kinds and their queries (each query runs `runs` times); the
/// accession kind also looks up one record's whole accession number.
const QUERIES: [(&str, &[&str]); 8] = [
    ("single CJK char", &["清", "明", "瓷"]),
    ("CJK word", &["青花", "乾隆", "山水"]),
    ("English word", &["porcelain", "dragons", "landscape"]),
    ("English prefix", &["porc", "bron", "lan"]),
    ("two words", &["青花 瓶", "bronze mirror", "清 瓷"]),
    ("accession", &["故001", "0004"]),
    // The longest query accepted, pasted text: worst cases, not typical ones.
    (
        "96 CJK chars",
        &[
            "据档案记载皇帝曾多次过问这类器物的式样和尺寸请走近细看器身上的纹饰匠人用细密的线条勾勒出云龙纹这件瓶原为宫中陈设清时期的宫廷工匠在造办处精心制作注意观察它的瓷质地光线下可以看到细微的色泽变化同",
        ],
    ),
    (
        "100 chars, 50 words",
        &["a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 4 5 6 7 8 9 aa bb cc dd ee ff gg hh ii j"],
    ),
];

/// Results per query, as a list page asks for.
const PAGE: usize = 20;

struct Args {
    records: usize,
    runs: usize,
    keep: Option<PathBuf>,
}

fn args() -> Result<Args, String> {
    let mut args = Args { records: 100_000, runs: 200, keep: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--records" => args.records = value()?.parse().map_err(|e| format!("--records: {e}"))?,
            "--runs" => args.runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--keep" => args.keep = Some(PathBuf::from(value()?)),
            _ => {
                return Err(format!(
                    "unknown argument {flag}; usage: search-bench [--records N] [--runs R] [--keep DIR]"
                ));
            }
        }
    }
    Ok(args)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("search-bench: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args = args()?;
    let rss = rss_kib();
    let started = Instant::now();
    let _ = tantivy_jieba::JiebaTokenizer::with_search_mode(false).token_stream("故宫").next();
    let jieba = started.elapsed();
    println!(
        "jieba dictionary load: {:.0} ms, +{} MiB resident",
        ms(jieba),
        rss_kib().zip(rss).map_or("?".into(), |(a, b)| format!("{}", a.saturating_sub(b) / 1024))
    );

    let started = Instant::now();
    let records = (0..args.records).map(synthetic).collect::<Result<Vec<ExhibitRecord>, String>>()?;
    let text: usize = records.iter().map(text_bytes).sum();
    println!(
        "generated {} records in {:.1} s ({:.0} MB of text)",
        records.len(),
        started.elapsed().as_secs_f64(),
        text as f64 / 1e6
    );

    let temp;
    let dir = match &args.keep {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
            temp.path().join(catalog_search::DIR)
        }
    };
    let started = Instant::now();
    write_index(&dir, &records).map_err(|e| e.to_string())?;
    let build = started.elapsed();
    let (files, bytes) = size(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    println!(
        "index build: {:.1} s ({:.0} records/s); on disk {:.1} MB in {files} files ({:.0} bytes per record)",
        build.as_secs_f64(),
        records.len() as f64 / build.as_secs_f64(),
        bytes as f64 / 1e6,
        bytes as f64 / records.len().max(1) as f64
    );

    let started = Instant::now();
    let index = SearchIndex::open(&dir).map_err(|e| e.to_string())?;
    println!("open (dictionary already loaded): {:.1} ms; {} exhibits", ms(started.elapsed()), index.len());

    println!();
    println!("{} runs per query, top {PAGE} + total count, one thread", args.runs);
    println!("| query kind | queries (total hits) | median ms | p95 ms | first run ms |");
    println!("|---|---|---:|---:|---:|");
    let exact = synthetic(args.records / 2)?.accession_number;
    let mut tops = Vec::new();
    for (kind, queries) in QUERIES {
        let mut queries: Vec<&str> = queries.to_vec();
        if kind == "accession" {
            queries.insert(0, &exact);
        }
        let mut times = Vec::with_capacity(queries.len() * args.runs);
        let mut first = Duration::ZERO;
        let mut shown = Vec::new();
        let mut top = Vec::new();
        for q in &queries {
            let started = Instant::now();
            let hits = index.search(q, PAGE, 0).map_err(|e| e.to_string())?;
            first = first.max(started.elapsed());
            shown.push(format!("{q} ({})", hits.total));
            let titles: Vec<String> = hits.ids.iter().take(3).map(|(id, _)| describe(&records, id)).collect();
            top.push(format!("  {q}: {}", titles.join(" | ")));
            for _ in 0..args.runs {
                let started = Instant::now();
                let hits = index.search(q, PAGE, 0).map_err(|e| e.to_string())?;
                times.push(started.elapsed());
                std::hint::black_box(hits);
            }
        }
        times.sort();
        let at = |p: f64| times.get(((times.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default();
        println!("| {kind} | {} | {:.2} | {:.2} | {:.2} |", shown.join(", "), ms(at(0.5)), ms(at(0.95)), ms(first));
        tops.extend(top);
    }
    println!();
    println!("top 3 hits (period / title):");
    for line in tops {
        println!("{line}");
    }
    Ok(())
}

/// "period / title" of a synthetic record, in Chinese and English.
fn describe(records: &[ExhibitRecord], id: &str) -> String {
    let record = id.strip_prefix("syn-").and_then(|n| n.parse::<usize>().ok()).and_then(|n| records.get(n));
    let Some(r) = record else { return id.to_owned() };
    let get = |t: &LangText, lang: &str| t.get(lang).cloned().unwrap_or_default();
    format!("{} / {} ({})", get(&r.period, "zh"), get(&r.title, "zh"), get(&r.title, "en"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Files and bytes under `dir`.
fn size(dir: &Path) -> std::io::Result<(usize, u64)> {
    let mut files = 0;
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir)? {
        let meta = entry?.metadata()?;
        if meta.is_file() {
            files += 1;
            bytes += meta.len();
        }
    }
    Ok((files, bytes))
}

/// This process's resident memory (Linux), KiB.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn text_bytes(r: &ExhibitRecord) -> usize {
    [&r.title, &r.maker, &r.period, &r.material, &r.description, &r.gallery]
        .iter()
        .flat_map(|t| t.values())
        .map(String::len)
        .sum()
}

/// splitmix64: a seeded, dependency-free generator (quality is not the point).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Dynasty (zh, en), its periods or reigns (zh suffix, whole period in en) and years.
type Dynasty = (&'static str, &'static str, &'static [(&'static str, &'static str)], (i32, i32));

const DYNASTIES: [Dynasty; 10] = [
    ("商", "Shang", &[("晚期", "Late Shang")], (-1300, -1046)),
    ("西周", "Western Zhou", &[("早期", "Early Western Zhou")], (-1046, -771)),
    ("战国", "Warring States", &[("", "Warring States")], (-475, -221)),
    ("汉", "Han", &[("", "Western Han"), ("", "Eastern Han")], (-206, 220)),
    ("唐", "Tang", &[("", "Tang"), ("开元", "Kaiyuan reign, Tang")], (618, 907)),
    ("北宋", "Northern Song", &[("政和", "Zhenghe reign, Northern Song"), ("", "Northern Song")], (960, 1127)),
    ("南宋", "Southern Song", &[("", "Southern Song")], (1127, 1279)),
    ("元", "Yuan", &[("", "Yuan")], (1271, 1368)),
    (
        "明",
        "Ming",
        &[
            ("永乐", "Yongle reign, Ming"),
            ("宣德", "Xuande reign, Ming"),
            ("成化", "Chenghua reign, Ming"),
            ("嘉靖", "Jiajing reign, Ming"),
            ("万历", "Wanli reign, Ming"),
        ],
        (1368, 1644),
    ),
    (
        "清",
        "Qing",
        &[
            ("康熙", "Kangxi reign, Qing"),
            ("雍正", "Yongzheng reign, Qing"),
            ("乾隆", "Qianlong reign, Qing"),
            ("嘉庆", "Jiaqing reign, Qing"),
            ("光绪", "Guangxu reign, Qing"),
        ],
        (1644, 1911),
    ),
];

/// Object kind: type code, nouns (zh, en), materials (zh, en), gallery (zh, en), has a maker.
type Object = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [(&'static str, &'static str)],
    (&'static str, &'static str),
    bool,
);

const OBJECTS: [Object; 8] = [
    (
        "ceramic",
        &[("瓶", "vase"), ("碗", "bowl"), ("盘", "dish"), ("杯", "cup"), ("罐", "jar"), ("炉", "censer")],
        &[("瓷", "Porcelain"), ("青花瓷", "Porcelain with cobalt-blue decoration"), ("陶", "Earthenware")],
        ("陶瓷馆", "Ceramics Gallery"),
        false,
    ),
    (
        "bronze",
        &[("鼎", "ding"), ("壶", "hu"), ("爵", "jue"), ("镜", "mirror"), ("簋", "gui")],
        &[("青铜", "Bronze"), ("铜鎏金", "Gilt bronze")],
        ("青铜器馆", "Bronze Gallery"),
        false,
    ),
    (
        "jade",
        &[("璧", "bi disc"), ("佩", "pendant"), ("山子", "boulder"), ("琮", "cong")],
        &[("青玉", "Green nephrite"), ("白玉", "White nephrite")],
        ("珍宝馆", "Treasure Gallery"),
        false,
    ),
    (
        "painting",
        &[
            ("山水图", "landscape"),
            ("花鸟图", "flowers and birds"),
            ("人物图", "figures"),
            ("秋山图", "autumn mountains"),
        ],
        &[("绢本设色", "Ink and colour on silk"), ("纸本墨笔", "Ink on paper")],
        ("书画馆", "Calligraphy and Painting Gallery"),
        true,
    ),
    (
        "calligraphy",
        &[("诗帖", "poems"), ("尺牍", "letter"), ("手卷", "handscroll")],
        &[("纸本行书", "Running script, ink on paper"), ("纸本草书", "Cursive script, ink on paper")],
        ("书画馆", "Calligraphy and Painting Gallery"),
        true,
    ),
    (
        "textile",
        &[("袍", "robe"), ("褂", "jacket"), ("挂屏", "hanging panel")],
        &[("缎、彩绣", "Embroidered satin"), ("缂丝", "Silk tapestry")],
        ("宫廷服饰展", "Court Costume Gallery"),
        false,
    ),
    (
        "clock",
        &[("钟", "clock"), ("表", "watch")],
        &[("铜镀金", "Gilt bronze with mechanical movement")],
        ("钟表馆", "Clock Gallery"),
        false,
    ),
    (
        "lacquer",
        &[("盒", "box"), ("盘", "tray"), ("柜", "cabinet")],
        &[("漆", "Carved lacquer on wood"), ("剔红", "Carved cinnabar lacquer")],
        ("珍宝馆", "Treasure Gallery"),
        false,
    ),
];

const DECORATIONS: [(&str, &str); 14] = [
    ("青花缠枝莲纹", "Blue-and-white, with lotus scrolls"),
    ("粉彩花卉纹", "Famille-rose, with flowers"),
    ("斗彩鸡纹", "Doucai, with chickens"),
    ("云龙纹", "With dragons and clouds"),
    ("兽面纹", "With taotie masks"),
    ("蟠螭纹", "With coiled dragons"),
    ("鎏金", "Gilt"),
    ("掐丝珐琅", "Cloisonné"),
    ("剔红花鸟", "Carved red, with birds and flowers"),
    ("谷纹", "With grain pattern"),
    ("天青釉", "Sky-blue glazed"),
    ("仿古", "Archaistic"),
    ("八宝纹", "With the Eight Treasures"),
    ("松鹤", "With pines and cranes"),
];

const SURNAMES: [(&str, &str); 12] = [
    ("王", "Wang"),
    ("张", "Zhang"),
    ("李", "Li"),
    ("赵", "Zhao"),
    ("文", "Wen"),
    ("沈", "Shen"),
    ("唐", "Tang"),
    ("董", "Dong"),
    ("郎", "Lang"),
    ("米", "Mi"),
    ("黄", "Huang"),
    ("吴", "Wu"),
];

const GIVEN: [(&str, &str); 12] = [
    ("希孟", "Ximeng"),
    ("择端", "Zeduan"),
    ("征明", "Zhengming"),
    ("周", "Zhou"),
    ("寅", "Yin"),
    ("其昌", "Qichang"),
    ("世宁", "Shining"),
    ("芾", "Fu"),
    ("公望", "Gongwang"),
    ("道子", "Daozi"),
    ("孟頫", "Mengfu"),
    ("熙", "Xi"),
];

const ZH_SENTENCES: [&str; 10] = [
    "请走近细看器身上的纹饰，匠人用细密的线条勾勒出{d}。",
    "这件{o}原为宫中陈设，{p}时期的宫廷工匠在造办处精心制作。",
    "注意观察它的{m}质地，光线下可以看到细微的色泽变化。",
    "同类器物存世不多，这一件保存完好，是研究{p}工艺的重要实物。",
    "据档案记载，皇帝曾多次过问这类器物的式样和尺寸。",
    "画面中山石、树木与人物层层展开，体现了{p}绘画的风格。",
    "{o}的造型端庄稳重，线条流畅，比例匀称。",
    "清明时节的风俗也常见于这类作品之中。",
    "器底落有款识，字体工整，为{p}官窑的典型写法。",
    "它曾经在多次展览中与观众见面，深受喜爱。",
];

const EN_SENTENCES: [&str; 10] = [
    "Look closely at the surface: fine lines trace {d}.",
    "This {o} once stood in the palace, made by court craftsmen in the {p} period.",
    "Notice the {m}; in raking light its colour shifts subtly.",
    "Few such objects survive, and this one is well preserved, a key witness to {p} craftsmanship.",
    "Palace archives record that the emperor asked more than once about the shape and size of such pieces.",
    "Rocks, trees and figures unfold across the surface in the manner of {p} painting.",
    "The {o} has a dignified, steady form with flowing lines and balanced proportions.",
    "Seasonal customs such as the Qingming festival often appear in works like this.",
    "The base bears a reign mark in regular script, typical of {p} imperial workshops.",
    "It has been shown in many exhibitions and is a visitor favourite.",
];

fn lang(zh: impl Into<String>, en: impl Into<String>) -> LangText {
    [("zh".to_owned(), zh.into()), ("en".to_owned(), en.into())].into()
}

/// Synthetic record number `i`: the same for the same `i`, always.
fn synthetic(i: usize) -> Result<ExhibitRecord, String> {
    let mut rng = Rng(i as u64 ^ 0x5EED);
    let &(dyn_zh, dyn_en, reigns, (from, to)) = rng.pick(&DYNASTIES);
    let &(reign_zh, reign_en) = rng.pick(reigns);
    let &(code, nouns, materials, gallery, made_by) = rng.pick(&OBJECTS);
    let &(noun_zh, noun_en) = rng.pick(nouns);
    let &(mat_zh, mat_en) = rng.pick(materials);
    let &(dec_zh, dec_en) = rng.pick(&DECORATIONS);
    let year = from + rng.below((to - from).max(1) as usize) as i32;
    let (period_zh, period_en) = (format!("{dyn_zh}{reign_zh}"), reign_en.to_owned());
    let maker = if made_by {
        let &(s_zh, s_en) = rng.pick(&SURNAMES);
        let &(g_zh, g_en) = rng.pick(&GIVEN);
        lang(format!("{s_zh}{g_zh}"), format!("{s_en} {g_en}"))
    } else {
        LangText::new()
    };
    let fill = |s: &str, zh: bool| {
        let (d, o, m, p) = if zh { (dec_zh, noun_zh, mat_zh, dyn_zh) } else { (dec_en, noun_en, mat_en, dyn_en) };
        s.replace("{d}", d).replace("{o}", o).replace("{m}", m).replace("{p}", p)
    };
    let sentences = 3 + rng.below(3);
    let picks: Vec<usize> = (0..sentences).map(|_| rng.below(ZH_SENTENCES.len())).collect();
    let description = lang(
        picks.iter().map(|&s| fill(ZH_SENTENCES[s], true)).collect::<String>(),
        picks.iter().map(|&s| fill(EN_SENTENCES[s], false)).collect::<Vec<_>>().join(" "),
    );
    let prefix = if rng.below(3) == 0 { "新" } else { "故" };
    // Through JSON, as bundles store records: fields added to the record type later default.
    let record = serde_json::json!({
        "id": format!("syn-{i:06}"),
        "museum": "bench",
        "accession_number": format!("{prefix}{:08}", rng.below(100_000_000)),
        "title": lang(format!("{dec_zh}{noun_zh}"), format!("{dec_en} {noun_en}")),
        "object_type": code,
        "maker": maker,
        "date": {
            "display": lang(format!("{period_zh}（{year}年）"), format!("{year}, {dyn_en} dynasty")),
            "earliest": year,
            "latest": year,
        },
        "period": lang(period_zh, period_en),
        "material": lang(mat_zh, mat_en),
        "description": description,
        "gallery": lang(gallery.0, gallery.1),
        "images": [format!("syn-{i:06}.jpg")],
    });
    serde_json::from_value(record).map_err(|e| format!("synthetic record {i}: {e}"))
}
