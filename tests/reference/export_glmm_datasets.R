# Export the data sets used by the generalized linear mixed model references.
#
# Run from the repository root:
#
#     Rscript tests/reference/export_glmm_datasets.R
#
# Writes, into src/multilevel/datasets/data/, the CSV + JSON sidecar pairs
# verbagg, cbpp and grouseticks, in the same format as
# tests/reference/export_datasets.R (no row names, NA as an empty field,
# numbers at write.csv()'s 15 significant digits; factor levels in R's order
# under "categories", ordered factors under "ordered").
#
# The simulated Rasch data set rasch5 is not written here: it is generated in
# Python by src/multilevel/datasets/generate_rasch.py.
#
# Requires the R packages lme4 and jsonlite.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

# write_dataset(): the CSV + JSON sidecar writer shared by the export scripts
source(file.path("tests", "reference", "dataset_writer.R"))


## 1. verbagg -------------------------------------------------------------
verbagg <- lme4::VerbAgg
stopifnot(nrow(verbagg) == 7584L)

write_dataset(
  verbagg, "verbagg",
  title = "Verbal aggression item responses: 316 persons, 24 items (7584 responses)",
  source = paste(
    "R package lme4, dataset VerbAgg (De Boeck, P. and Wilson, M. (eds)",
    "(2004), Explanatory Item Response Models: A Generalized Linear and",
    "Nonlinear Approach, Springer; data of Vansteelandt, K. (2000))"),
  description = paste(
    "Responses of 316 persons (243 women, 73 men) to 24 items describing",
    "possible verbal aggression in four frustrating situations (S1-S4, two",
    "in which someone else is to blame and two in which oneself is to",
    "blame). Each item combines a situation, a behaviour type (curse,",
    "scold, shout) and a mode (want to / actually do). Anger is the trait",
    "anger score (STAXI). The response is 'no', 'perhaps' or",
    "'yes' (an ordered factor in R); r2 is its dichotomisation (N = no,",
    "Y = perhaps or yes), the usual binary response of the glmer examples.",
    "One row per person and item, ordered by item then person. Item level",
    "'S4wantCurse' has a lower-case 'w' in lme4, kept as is."),
  columns = c(
    Anger = "Trait anger score (State-Trait Anger Expression Inventory), 11..39",
    Gender = "Gender of the person (factor, levels F, M)",
    item = "Item (factor, 24 levels, e.g. S1WantCurse)",
    resp = "Response (ordered factor no < perhaps < yes)",
    id = "Person ID (factor, 316 levels)",
    btype = "Behaviour type (factor, levels curse, scold, shout)",
    situ = "Situation type (factor, levels other, self)",
    mode = "Behaviour mode (factor, levels want, do)",
    r2 = "Dichotomous response: N = no, Y = perhaps or yes (factor, levels N, Y)"
  ))


## 2. cbpp ----------------------------------------------------------------
cbpp <- lme4::cbpp
stopifnot(nrow(cbpp) == 56L)

write_dataset(
  cbpp, "cbpp",
  title = "Contagious bovine pleuropneumonia: new cases in 15 herds over 4 periods",
  source = paste(
    "R package lme4, dataset cbpp (Lesnoff, M., Laval, G., Bonnet, P., et",
    "al. (2004), 'Within-herd spread of contagious bovine pleuropneumonia in",
    "Ethiopian highlands', Preventive Veterinary Medicine 64, 27-40)"),
  description = paste(
    "Serological incidence of contagious bovine pleuropneumonia (CBPP) in",
    "15 commercial zebu herds in Ethiopia, followed up over four periods",
    "(a herd is missing from some periods: 56 rows). 'incidence' is the",
    "number of new serological cases among the 'size' animals of the herd",
    "at the start of the period; the classic binomial GLMM example",
    "cbind(incidence, size - incidence) ~ period + (1 | herd)."),
  columns = c(
    herd = "Herd (factor, 15 levels)",
    incidence = "Number of new serological cases in the period",
    size = "Herd size at the beginning of the period",
    period = "Period (factor, levels 1..4)"
  ))


## 3. grouseticks ---------------------------------------------------------
grouseticks <- lme4::grouseticks
stopifnot(nrow(grouseticks) == 403L)

write_dataset(
  grouseticks, "grouseticks",
  title = "Ticks on red grouse chicks: 403 chicks in 118 broods at 63 locations",
  source = paste(
    "R package lme4, dataset grouseticks (Elston, D. A., Moss, R.,",
    "Boulinier, T., Arrowsmith, C. and Lambin, X. (2001), 'Analysis of",
    "aggregation, a worked example: numbers of ticks on red grouse chicks',",
    "Parasitology 122, 563-569)"),
  description = paste(
    "Number of ticks counted on the heads of 403 red grouse chicks sampled",
    "in 1995-1997 at 63 locations in Scotland; chicks are grouped in 118",
    "broods. The classic example of an overdispersed Poisson GLMM with an",
    "observation-level random effect (1 | INDEX). cHEIGHT is HEIGHT centred",
    "at its mean (written at 15 significant digits)."),
  columns = c(
    INDEX = "Observation (chick) number (factor, 403 levels)",
    TICKS = "Number of ticks sampled on the chick",
    BROOD = "Brood number (factor, 118 levels)",
    HEIGHT = "Height above sea level of the location (m)",
    YEAR = "Year (factor, levels 95, 96, 97)",
    LOCATION = "Geographic location code (factor, 63 levels)",
    cHEIGHT = "Centred height: HEIGHT - mean(HEIGHT)"
  ))

cat("Wrote verbagg, cbpp and grouseticks to", out_dir, "\n")
