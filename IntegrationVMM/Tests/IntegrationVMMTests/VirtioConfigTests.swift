// Copyright 2026 The swift-vmm Authors.
// SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause

import IntegrationVMMCore
import Testing
import VhostUser
import VirtioDevices

@Suite("virtio device options and placement")
struct VirtioConfigTests {
    @Test func blockOptionsParseFlagsAndRejectNonsense() throws {
        #expect(
            try VirtioDeviceOption.parseBlock("path=/d.img")
                == .block(path: "/d.img", readOnly: false, direct: false, id: nil))
        #expect(
            try VirtioDeviceOption.parseBlock("path=/d.img,readonly=on,direct=true,id=disk-1")
                == .block(path: "/d.img", readOnly: true, direct: true, id: "disk-1"))
        for bad in [
            "readonly=on", "path=", "path=/d,readonly=maybe", "path=/d,size=4",
            "path=/d,id=" + String(repeating: "x", count: 21),
        ] {
            do {
                _ = try VirtioDeviceOption.parseBlock(bad)
                Issue.record("\(bad) was accepted")
            } catch {
                #expect(error.description.hasPrefix("--block"), "\(error)")
            }
        }
    }

    @Test func netVsockAndConsoleOptions() throws {
        #expect(try VirtioDeviceOption.parseNet("tap=vmtap0") == .net(tap: "vmtap0", mac: nil))
        #expect(
            try VirtioDeviceOption.parseNet("tap=t,mac=52:54:00:12:34:ab")
                == .net(tap: "t", mac: [0x52, 0x54, 0x00, 0x12, 0x34, 0xab]))
        for bad in [
            "mac=52:54:00:12:34:56", "tap=t,mac=52:54:00:12:34", "tap=t,mac=01:00:00:00:00:01",
            "tap=t,mac=zz:54:00:12:34:56", "tap=a-name-that-is-too-long",
        ] {
            #expect(throws: ConfigError.self, "\(bad)") { try VirtioDeviceOption.parseNet(bad) }
        }
        #expect(try VirtioDeviceOption.parseVsock("cid=3,uds=/tmp/v.sock") == .vsock(cid: 3, path: "/tmp/v.sock"))
        for bad in [
            "cid=2,uds=/x", "cid=4294967295,uds=/x", "cid=x,uds=/x", "cid=3",
            "cid=3,uds=/" + String(repeating: "p", count: 100),
        ] {
            #expect(throws: ConfigError.self, "\(bad)") { try VirtioDeviceOption.parseVsock(bad) }
        }
        #expect(try VirtioDeviceOption.parseConsole("output=/tmp/hvc0.log") == .console(output: "/tmp/hvc0.log"))
        #expect(throws: ConfigError.self) { try VirtioDeviceOption.parseConsole("output=") }
    }

    @Test func vhostUserOptionsDescribeTheDeviceAndRejectNonsense() throws {
        #expect(
            try VirtioDeviceOption.parseVhostUserBlock("socket=/run/blk.sock")
                == .vhostUser(socket: "/run/blk.sock", model: .block()))
        #expect(
            try VirtioDeviceOption.parseVhostUserBlock("socket=/b,queue-size=128")
                == .vhostUser(socket: "/b", model: .block(queueSize: 128)))
        let share = try VirtioDeviceOption.parseVhostUserFilesystem("socket=/fs.sock,tag=share")
        guard case .vhostUser(let socket, let model) = share else {
            Issue.record("\(share)")
            return
        }
        #expect(socket == "/fs.sock" && model.type == .filesystem && model.queueSizes == [1024, 1024])
        // virtio-fs configuration: the tag padded to 36 bytes, then num_request_queues (1).
        #expect(model.config == .local(Array("share".utf8) + [UInt8](repeating: 0, count: 31) + [1, 0, 0, 0]))
        #expect(
            try VirtioDeviceOption.parseVhostUser("socket=/r.sock,device-id=4,queues=1")
                == .vhostUser(
                    socket: "/r.sock",
                    model: VhostUserDeviceModel(type: VirtioDeviceType(rawValue: 4), queueSizes: [256])))
        #expect(
            try VirtioDeviceOption.parseVhostUser("socket=/v,device-id=19,queues=3,queue-size=64,config-size=8")
                == .vhostUser(
                    socket: "/v",
                    model: VhostUserDeviceModel(
                        type: .vsock, queueSizes: [64, 64, 64], config: .backend(size: 8))))
        #expect(share.sharesGuestMemory && !VirtioDeviceOption.entropy.sharesGuestMemory)
        let bad: [(String, (String) throws(ConfigError) -> VirtioDeviceOption)] = [
            ("", VirtioDeviceOption.parseVhostUserBlock), ("socket=", VirtioDeviceOption.parseVhostUserBlock),
            ("socket=/b,queue-size=100", VirtioDeviceOption.parseVhostUserBlock),
            ("socket=/b,queue-size=65536", VirtioDeviceOption.parseVhostUserBlock),
            ("socket=/b,tag=x", VirtioDeviceOption.parseVhostUserBlock),
            ("socket=/" + String(repeating: "s", count: 107), VirtioDeviceOption.parseVhostUserBlock),
            ("socket=/f", VirtioDeviceOption.parseVhostUserFilesystem),
            ("socket=/f,tag=", VirtioDeviceOption.parseVhostUserFilesystem),
            ("socket=/f,tag=" + String(repeating: "t", count: 37), VirtioDeviceOption.parseVhostUserFilesystem),
            ("socket=/g,queues=1", VirtioDeviceOption.parseVhostUser),
            ("socket=/g,device-id=0,queues=1", VirtioDeviceOption.parseVhostUser),
            ("socket=/g,device-id=4", VirtioDeviceOption.parseVhostUser),
            ("socket=/g,device-id=4,queues=65", VirtioDeviceOption.parseVhostUser),
            ("socket=/g,device-id=4,queues=1,config-size=257", VirtioDeviceOption.parseVhostUser),
        ]
        for (text, parse) in bad {
            do {
                let option = try parse(text)
                Issue.record("\(text) was accepted as \(option)")
            } catch {
                #expect(error.description.hasPrefix("--vhost-user"), "\(error)")
            }
        }
    }

    @Test func placementGivesEachDeviceAWindowAndAnInterruptOfItsOwn() throws {
        let places = try VirtioPlacement.places(count: 9, mmioGapStart: 0xc000_0000)
        #expect(Set(places.map(\.base)).count == 9)
        #expect(Set(places.map(\.interrupt)).count == 9)
        #expect(places[0].base == 0xc001_0000)
        #expect(places[1].base == 0xc001_1000)
        #expect(places[0].kernelParameter == "virtio_mmio.device=4K@0xc0010000:5")
        // None of the legacy devices' interrupts (timer, keyboard, cascade, COM ports, RTC, FPU).
        #expect(places.allSatisfy { ![0, 1, 2, 3, 4, 8, 13].contains($0.interrupt) })
        #expect(throws: ConfigError.self) { try VirtioPlacement.places(count: 10, mmioGapStart: 0xc000_0000) }
    }
}
