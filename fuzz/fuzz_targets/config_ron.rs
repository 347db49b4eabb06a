//! The RON configuration loader on arbitrary input: a clear error or a configuration, never a panic;
//! every configuration it accepts validates, lists its checklist, and survives a save/load round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use watchkeeper::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::from_ron(text) {
        let _ = config.validate();
        let _ = config.checklist();
        let again = Config::from_ron(&config.to_ron())
            .expect("a loaded configuration saves and loads again");
        assert_eq!(again.to_ron(), config.to_ron());
    }
});
