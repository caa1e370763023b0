"""The demo harness: simulated homes and fleet, simulated phones, the embedded broker. Production never imports it."""
