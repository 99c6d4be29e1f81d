# Export the data sets of the covariance-structure references: nlme's
# Orthodont (orthodont) and Machines (machines).
#
# Run from the repository root:
#
#     Rscript tests/reference/export_structure_datasets.R
#
# Requires the R packages nlme and jsonlite.

source(file.path("tests", "reference", "dataset_writer.R"))

## 1. orthodont --------------------------------------------------------------
data("Orthodont", package = "nlme")
orth <- data.frame(distance = Orthodont$distance, age = Orthodont$age,
                   Subject = factor(as.character(Orthodont$Subject)),
                   Sex = factor(as.character(Orthodont$Sex), levels = c("Male", "Female")))
write_dataset(
  orth, "orthodont",
  title = "Orthodontic growth: 27 children measured at ages 8, 10, 12 and 14",
  source = paste(
    "R package nlme, dataset Orthodont (Potthoff, R. F. and Roy, S. N. (1964),",
    "'A generalized multivariate analysis of variance model useful especially",
    "for growth curve problems', Biometrika 51, 313-326; Pinheiro and Bates (2000))"),
  description = paste(
    "The distance from the pituitary to the pterygomaxillary fissure of 16 boys",
    "and 11 girls, every two years from age 8 to 14: the classic example of",
    "repeated measures with structured covariances (compound symmetry, AR(1))."),
  columns = c(
    distance = "Distance from the pituitary to the pterygomaxillary fissure (mm)",
    age = "Age of the child (years: 8, 10, 12, 14)",
    Subject = "Child (factor, 27 levels: M01-M16, F01-F11)",
    Sex = "Sex of the child (factor: Male, Female)"))

## 2. machines ---------------------------------------------------------------
data("Machines", package = "nlme")
mach <- data.frame(Worker = factor(as.character(Machines$Worker)),
                   Machine = factor(as.character(Machines$Machine)),
                   score = Machines$score)
write_dataset(
  mach, "machines",
  title = "Productivity scores: 6 workers on 3 machines, 3 replicates each",
  source = paste(
    "R package nlme, dataset Machines (Milliken, G. A. and Johnson, D. E.",
    "(1992), Analysis of Messy Data, Volume I: Designed Experiments;",
    "Pinheiro and Bates (2000))"),
  description = paste(
    "An overall productivity score of each of 6 randomly chosen workers on each",
    "of 3 brands of machine, three times: worker-by-machine random effects, as",
    "nested intercepts or as a compound-symmetric term per worker."),
  columns = c(
    Worker = "Worker (factor, 6 levels)",
    Machine = "Brand of machine (factor: A, B, C)",
    score = "Productivity score"))
