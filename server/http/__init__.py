"""HTTP side of the service (:8003): OTA/activation, health, metrics; other parts add routes via extra_setup."""
