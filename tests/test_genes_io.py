"""Reading expression tables: formats, orientation, ids, gene names, and every bad-input message."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bcviewer.genes.errors import (
    AllMissingSampleError,
    DelimiterError,
    DuplicateSampleError,
    EmptyTableError,
    LabelError,
    NonNumericValueError,
)
from bcviewer.genes.ids import find_sample_id_column, is_clinical_column, normalise_gene_id
from bcviewer.genes.io import read_expression_table
from bcviewer.genes.targets import infer_encoding


@pytest.fixture(scope="module")
def genes_dir(test_data: Path) -> Path:
    return test_data / "genes"


@pytest.fixture(scope="module")
def er_frame(genes_dir: Path) -> pd.DataFrame:
    return pd.read_csv(genes_dir / "tcga_er_pam50_160.csv")


def test_gene_id_normalisation() -> None:
    assert normalise_gene_id("num_HS_ESR1") == "ESR1"
    assert normalise_gene_id("HS_esr1 ") == "ESR1"
    assert normalise_gene_id("entrez_2099") == "ENTREZ:2099"
    assert normalise_gene_id("X219340_s_at") == "219340_S_AT"
    assert normalise_gene_id("MKI67") == "MKI67"
    assert normalise_gene_id("num_age") == "AGE"


def test_label_like_columns_are_clinical_and_genes_are_not() -> None:
    assert all(is_clinical_column(c) for c in ("label", "pam50_subtype", "er_status", "fac_er", "CLASS", "t.tdm"))
    assert not any(is_clinical_column(c) for c in ("ESR1", "MKI67", "219340_s_at", "entrez_2099", "num_HS_ESR1"))


def test_tcga_csv_samples_in_rows(genes_dir: Path, er_frame: pd.DataFrame) -> None:
    table = read_expression_table(genes_dir / "tcga_er_pam50_160.csv", label="label")
    assert table.orientation == "samples-in-rows"
    assert table.expression.shape == (160, 49)
    assert table.samples == er_frame["sample_id"].tolist()  # default rule: sample_id is unique text
    assert table.labels.value_counts().to_dict() == {"Positive": 120, "Negative": 40}
    assert table.expression.loc[er_frame["sample_id"][0], "ESR1"] == pytest.approx(er_frame["ESR1"][0])
    assert infer_encoding(table.labels).classes == ("Negative", "Positive")


def test_gse1992_gzip_prefixes_and_missing_labels(genes_dir: Path) -> None:
    table = read_expression_table(genes_dir / "gse1992_pam50_40.csv.gz", label="fac_er_positive")
    assert table.samples[:3] == ["BR00-0504", "BR00-0284", "BR94-1083"]  # the pid column
    assert "ESR1" in table.genes and "NUM_HS_ESR1" not in table.genes
    assert {"AGE", "TIME", "EVENT"}.isdisjoint(table.genes)  # clinical columns are not genes
    assert table.labels.value_counts().to_dict() == {"1": 23, "0": 17}
    assert infer_encoding(table.labels).positive == "1"


def test_gse7390_excludes_survival_columns_and_uses_index_ids(genes_dir: Path) -> None:
    table = read_expression_table(genes_dir / "gse7390_metastasis_120.csv", label="e.tdm")
    assert table.expression.shape == (120, 76)
    assert "t.tdm" in table.ignored_columns and "age" in table.ignored_columns  # time to event would leak
    assert table.samples[:2] == ["0", "1"]  # no text id column: the sample_index column
    assert table.labels.value_counts().to_dict() == {"0": 84, "1": 36}


def test_entrez_ids_in_deggs_table(genes_dir: Path) -> None:
    table = read_expression_table(genes_dir / "tcga_deggs_pam50_84.csv", label="pam50_subtype")
    assert table.genes[0] == "ENTREZ:132430"
    assert table.samples[0] == "TCGA-A7-A0CE"
    assert len(table.genes) == 66


def test_id_col_override_and_row_number_fallback(tmp_path: Path, er_frame: pd.DataFrame) -> None:
    path = tmp_path / "no_ids.csv"
    er_frame.drop(columns="sample_id").head(5).to_csv(path, index=False)
    table = read_expression_table(path, label="label")
    assert table.samples == ["row1", "row2", "row3", "row4", "row5"]
    frame = er_frame.head(5).assign(code=[f"S{i}" for i in range(5)])
    frame.to_csv(path, index=False)
    assert read_expression_table(path, label="label", id_col="code").samples == ["S0", "S1", "S2", "S3", "S4"]
    assert find_sample_id_column(frame) == "sample_id"


def test_genes_in_rows_tsv_is_detected_and_overridable(tmp_path: Path, er_frame: pd.DataFrame) -> None:
    wide = er_frame.head(12).drop(columns="label").set_index("sample_id").T
    wide.index.name = "gene"
    path = tmp_path / "wide.tsv"
    wide.to_csv(path, sep="\t")
    table = read_expression_table(path, known_genes=["ESR1", "PGR"])
    assert table.orientation == "genes-in-rows"
    assert table.samples == er_frame["sample_id"].head(12).tolist()
    assert table.expression.loc[table.samples[3], "PGR"] == pytest.approx(er_frame["PGR"][3])
    forced = read_expression_table(path, orientation="samples-in-rows")
    assert forced.orientation == "samples-in-rows" and "ESR1" not in forced.genes
    with_label = wide.astype(object)
    with_label.loc["label"] = er_frame.head(12)["label"].to_numpy()
    with_label.to_csv(path, sep="\t")
    labelled = read_expression_table(path, label="label")
    assert labelled.orientation == "genes-in-rows"
    assert labelled.labels.tolist() == er_frame.head(12)["label"].tolist()


def test_duplicate_genes_are_averaged_with_warning(tmp_path: Path, er_frame: pd.DataFrame) -> None:
    frame = er_frame.head(10).copy()
    frame["num_HS_ESR1"] = frame["ESR1"] + 2.0
    path = tmp_path / "dup.csv"
    frame.to_csv(path, index=False)
    table = read_expression_table(path, label="label")
    assert table.genes.count("ESR1") == 1
    np.testing.assert_allclose(table.expression["ESR1"].to_numpy(), er_frame["ESR1"].head(10).to_numpy() + 1.0)
    assert any("averaged" in w and "ESR1" in w for w in table.warnings)


# -- bad input ---------------------------------------------------------------------------------

def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(EmptyTableError, match="empty"):
        read_expression_table(path)


def test_header_without_rows(tmp_path: Path, genes_dir: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text((genes_dir / "tcga_er_pam50_160.csv").read_text().splitlines()[0] + "\n")
    with pytest.raises(EmptyTableError, match="no data rows"):
        read_expression_table(path)


def test_empty_gzip(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("")
    with pytest.raises(EmptyTableError):
        read_expression_table(path)


def test_wrong_delimiter(tmp_path: Path, er_frame: pd.DataFrame) -> None:
    path = tmp_path / "semicolon.csv"
    er_frame.head(5).to_csv(path, sep=";", index=False)
    with pytest.raises(DelimiterError, match="semicolon-separated"):
        read_expression_table(path)
    table = read_expression_table(path, sep=";", label="label")  # the override works
    assert table.expression.shape == (5, 49)


def test_declared_separator_that_does_not_split(tmp_path: Path, er_frame: pd.DataFrame) -> None:
    path = tmp_path / "tabs.csv"
    er_frame.head(5).to_csv(path, sep="\t", index=False)
    with pytest.raises(DelimiterError, match="one column when split on comma"):
        read_expression_table(path, sep=",")


def test_non_numeric_cells_name_the_offenders(tmp_path: Path, er_frame: pd.DataFrame) -> None:
    frame = er_frame.head(8).astype({"ESR1": object, "PGR": object})
    frame.loc[2, "ESR1"] = "high"
    frame.loc[5, "PGR"] = "n.d."
    path = tmp_path / "text.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(NonNumericValueError) as info:
        read_expression_table(path, label="label")
    message = str(info.value)
    assert f"sample {frame.sample_id[2]}, column ESR1: 'high'" in message
    assert f"sample {frame.sample_id[5]}, column PGR: 'n.d.'" in message


def test_decimal_commas_are_explained(tmp_path: Path, er_frame: pd.DataFrame) -> None:
    frame = er_frame.head(6).copy()
    frame["ESR1"] = frame["ESR1"].map(lambda v: f"{v:.3f}".replace(".", ","))
    path = tmp_path / "commas.tsv"
    frame.to_csv(path, sep="\t", index=False)
    with pytest.raises(NonNumericValueError, match="decimal commas"):
        read_expression_table(path, label="label")


def test_duplicate_sample_ids(tmp_path: Path, er_frame: pd.DataFrame) -> None:
    frame = pd.concat([er_frame.head(6), er_frame.iloc[[3]]])
    path = tmp_path / "dupes.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DuplicateSampleError, match=er_frame.sample_id[3]):
        read_expression_table(path, label="label")


def test_all_missing_rows(tmp_path: Path, er_frame: pd.DataFrame) -> None:
    frame = er_frame.head(6).copy()
    frame.loc[4, frame.columns[2:]] = np.nan
    path = tmp_path / "blank.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(AllMissingSampleError, match=frame.sample_id[4]):
        read_expression_table(path, label="label")


def test_unknown_label_column(genes_dir: Path) -> None:
    with pytest.raises(LabelError, match="no label column 'ER'"):
        read_expression_table(genes_dir / "tcga_er_pam50_160.csv", label="ER")


def test_unlabelled_samples_are_left_out_with_warning(tmp_path: Path, er_frame: pd.DataFrame) -> None:
    frame = er_frame.head(10).copy()
    frame.loc[[1, 7], "label"] = "missing"
    path = tmp_path / "some_missing.csv"
    frame.to_csv(path, index=False)
    table = read_expression_table(path, label="label").labelled()
    assert len(table.samples) == 8 and frame.sample_id[1] not in table.samples
    assert any("2 samples without" in w for w in table.warnings)


@pytest.mark.shared
def test_full_tables(shared_data: Path) -> None:
    genes = shared_data / "genes"
    er = read_expression_table(genes / "tcga_brca_pam50genes_ER_status.csv", label="label")
    assert er.expression.shape == (777, 49)
    gse = read_expression_table(genes / "survset_gse1992.csv.gz", label="fac_er_positive")
    assert gse.expression.shape == (124, 15528)
    assert len(set(er.genes) & set(gse.genes)) == 47
    assert sorted(set(er.genes) - set(gse.genes)) == ["BIRC5", "KRT5"]


def test_label_and_clinical_columns_are_left_out_without_a_warning(genes_dir: Path, er_frame: pd.DataFrame,
                                                                   tmp_path: Path) -> None:
    table = read_expression_table(genes_dir / "tcga_er_pam50_160.csv")  # predict reads it without --label
    assert "label" in table.ignored_columns and "LABEL" not in table.genes
    assert not any("not used as genes" in w for w in table.warnings)
    deggs = read_expression_table(genes_dir / "tcga_deggs_pam50_84.csv")
    assert "pam50_subtype" in deggs.ignored_columns
    assert not any("not used as genes" in w for w in deggs.warnings)
    # An unexpected text column still gets a word, and only it is named
    frame = er_frame.head(12).copy()
    frame.insert(2, "notes", "freezer B")
    path = tmp_path / "notes.csv"
    frame.to_csv(path, index=False)
    noted = read_expression_table(path)
    assert [w for w in noted.warnings if "not used as genes" in w] == ["columns not used as genes: notes"]
    assert noted.ignored_columns == ["label", "notes"] and noted.expression.shape == (12, 49)
