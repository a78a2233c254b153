"""MQTT over TLS: with a certificate and key configured, OTA points devices at the TLS listener and the
firmware-like device connects through it (verifying the certificate); a plain client can't talk to it."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from firmware_bridge.mqtt_device import MqttSettings, MqttVirtualDevice
from firmware_bridge.virtual_device import DeviceError
from tests.mqtt.helpers import running_stack

A = "aa:bb:cc:00:00:0b"


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "mqtt.crt", tmp / "mqtt.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_tls_listener_carries_a_session(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    async with running_stack(tmp_path, mqtt_tls_cert=cert, mqtt_tls_key=key) as stack:
        settings = MqttSettings.from_ota(await stack.ota(A))
        tls_port = stack.service.mqtt_tls_port
        assert tls_port and settings.host_port == ("127.0.0.1", tls_port)
        plain = MqttVirtualDevice(settings, device_id=A, tls=False)  # plain MQTT on the TLS port
        with pytest.raises(DeviceError):
            await plain.connect_control(timeout=3)
        dev = MqttVirtualDevice(settings, device_id=A, tls=True, ca_file=str(cert))
        await dev.connect_control()
        hello = await dev.open_audio()
        assert hello.transport == "udp"
        await dev.close()
