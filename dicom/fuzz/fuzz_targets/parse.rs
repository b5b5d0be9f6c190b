//! Feeds arbitrary bytes to the DICOM parser and, when they parse, to every
//! accessor the REST API uses. libFuzzer reports panics, timeouts, memory
//! over `-malloc_limit_mb`/`-rss_limit_mb` and stack overflows.

#![no_main]

use libfuzzer_sys::fuzz_target;
use stowage_core::ResourceType;
use stowage_dicom::{Content, TagsFormat};

fuzz_target!(|data: &[u8]| {
    let Ok(f) = stowage_dicom::parse(data) else {
        return;
    };
    for format in [TagsFormat::Full, TagsFormat::Simplify, TagsFormat::Short] {
        let _ = f.tags_json(format);
        let _ = f.header_json(format);
    }
    for level in ResourceType::ALL {
        let _ = f.main_dicom_tags(level);
        let _ = f.module_json(level, TagsFormat::Full);
    }
    let _ = f.sop_class_uid();
    let _ = f.transfer_syntax_uid();
    if let Ok(Content::Children(top)) = f.content(&[]) {
        for tag in &top {
            let _ = f.content(&[tag]);
            for i in ["0", "1"] {
                let _ = f.content(&[tag, i]);
                if let Ok(Content::Children(inner)) = f.content(&[tag, i]) {
                    for t in inner.iter().take(8) {
                        let _ = f.content(&[tag, i, t]);
                    }
                }
            }
        }
    }
    for i in 0..f.frame_count().min(4) {
        let _ = f.raw_frame(i);
    }
    if let Some(offset) = f.pixel_data_offset() {
        assert!(
            offset < data.len() as u64,
            "pixel data offset beyond the file"
        );
    }
});
