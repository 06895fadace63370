"""Tracking codes: unambiguous alphabet, a check character that catches typing mistakes."""

from __future__ import annotations

from feedback import codes


def test_new_codes_are_valid_and_use_only_the_alphabet() -> None:
    for _ in range(500):
        code = codes.new_tracking_code()
        assert len(code) == 9
        assert set(code) <= set(codes.ALPHABET)
        assert codes.is_valid(code)


def test_alphabet_leaves_out_confusable_characters() -> None:
    for confusable in "0O1IL5SBUVZQD":
        assert confusable not in codes.ALPHABET
    assert len(codes.ALPHABET) == 23


def test_every_single_wrong_character_is_caught() -> None:
    for _ in range(50):
        code = codes.new_tracking_code()
        for position in range(9):
            for replacement in codes.ALPHABET:
                if replacement != code[position]:
                    typo = code[:position] + replacement + code[position + 1 :]
                    assert not codes.is_valid(typo), typo


def test_every_swap_of_neighbours_is_caught() -> None:
    for _ in range(200):
        code = codes.new_tracking_code()
        for position in range(8):
            if code[position] != code[position + 1]:
                swapped = code[:position] + code[position + 1] + code[position] + code[position + 2 :]
                assert not codes.is_valid(swapped), swapped


def test_normalise_reads_codes_as_people_type_them() -> None:
    code = codes.new_tracking_code()
    spaced = f" {code[:3].lower()}-{code[3:6]} .{code[6:]} "
    assert codes.normalise(spaced) == code
    assert codes.normalise("z8s") == "285"  # look-alikes read as the characters they resemble


def test_display_groups_of_three_for_reading_aloud() -> None:
    assert codes.display("K7M4PX2RC") == "K7M-4PX-2RC"
    assert codes.display(codes.normalise(codes.display("ACE234679"))) == "ACE-234-679"


def test_wrong_shapes_are_invalid() -> None:
    assert not codes.is_valid("")
    assert not codes.is_valid("ABC")
    assert not codes.is_valid("0" * 9)
    assert not codes.is_valid(codes.new_tracking_code() + "A")
